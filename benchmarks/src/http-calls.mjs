// Counts the World calls a run makes through world-http (each one HTTP request), by method,
// with PostgreSQL behind the server. Usage: node benchmarks/src/http-calls.mjs [steps] [runs]
import { randomBytes } from 'node:crypto';
import { createClient, createWorker, step, workflow } from '@cairn/core';
import { createHttpWorld, createWorldServer } from '@cairn/world-http';
import { createPostgresWorld } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';

const steps = Number(process.argv[2] ?? 10);
const runs = Number(process.argv[3] ?? 20);
const echo = step('http-calls.echo', async (index) => index);
const sequential = workflow('http-calls.sequential', async (count) => {
  for (let index = 0; index < count; index++) await echo(index);
  return count;
});

const server = await startPostgres();
const backing = createPostgresWorld({ connectionString: server.connectionString, poolSize: 20 });
await backing.open();
const token = randomBytes(24).toString('base64url');
const worldServer = createWorldServer({ world: backing, tokens: [{ token, role: 'worker' }] });
const { url } = await worldServer.listen({ port: 0, host: '127.0.0.1' });
const world = await createHttpWorld({ url, token });

// Counts calls through a wrapper over the client World's real methods.
const counts = new Map();
let counting = false;
const counted = { ...world };
for (const area of ['events', 'runs', 'steps', 'hooks', 'waits', 'queue', 'streams']) {
  const target = world[area];
  const wrapped = {};
  const names = new Set([...Object.keys(target), ...Object.getOwnPropertyNames(Object.getPrototypeOf(target))]);
  for (const name of names) {
    if (name === 'constructor' || typeof target[name] !== 'function') continue;
    wrapped[name] = (...args) => {
      if (counting) counts.set(`${area}.${name}`, (counts.get(`${area}.${name}`) ?? 0) + 1);
      return target[name](...args);
    };
  }
  counted[area] = wrapped;
}
const worker = createWorker({ world: counted, workflows: [sequential], logger: false });
await worker.start();
const client = createClient({ world: counted });
for (let i = 0; i < 3; i++) await (await client.start(sequential, steps)).result();
counting = true;
const started = performance.now();
for (let i = 0; i < runs; i++) await (await client.start(sequential, steps)).result();
const elapsed = performance.now() - started;
counting = false;
let total = 0;
for (const [key, count] of [...counts].sort((a, b) => b[1] - a[1])) {
  total += count;
  console.log(`${(count / runs).toFixed(2).padStart(7)}  ${key}`);
}
console.log(
  `${(total / runs).toFixed(2)} World calls per run of ${steps} steps; ${(elapsed / runs).toFixed(1)} ms per run`,
);
await worker.stop();
await world.close();
await worldServer.close();
await backing.close();
await server.stop();
