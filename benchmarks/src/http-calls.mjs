// Counts the World calls a run makes through world-http, by method, with PostgreSQL behind
// the server. Each call is one round trip to the server: an HTTP request, or a frame each way
// on the call channel when the client has one open (it does by default). It counts calls, not
// the statements the server sends on (round-trips.mjs counts those for cairn-postgres).
// Usage: node benchmarks/src/http-calls.mjs [steps] [runs]
import { randomBytes } from 'node:crypto';
import { createHttpWorld, createWorldServer } from '@cairn/world-http';
import { createPostgresWorld } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';
import { printCountsPerRun, startSequentialRuns, timeRuns } from './sequential-runs.mjs';

const steps = Number(process.argv[2] ?? 10);
const runs = Number(process.argv[3] ?? 20);
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
const sequential = await startSequentialRuns(counted, steps);
const msPerRun = await timeRuns(sequential.run, steps, runs, (on) => {
  counting = on;
});
printCountsPerRun(counts, { runs, steps, msPerRun, what: 'World calls' });
await sequential.stop();
await world.close();
await worldServer.close();
await backing.close();
await server.stop();
