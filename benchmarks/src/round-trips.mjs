// Counts the statements and round trips cairn-postgres sends per workflow, by kind.
// Usage: node benchmarks/src/round-trips.mjs [steps] [runs]. It wraps the driver's query method to
// count what is sent (the database underneath is real), so its timings are not comparable.

import { createClient, createWorker, step, workflow } from '@cairn/core';
import { createPostgresWorld } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';
import pg from 'pg';

const steps = Number(process.argv[2] ?? 10);
const runs = Number(process.argv[3] ?? 20);
const counts = new Map();
let counting = false;
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (config, ...rest) {
  if (counting) {
    const text = typeof config === 'string' ? config : config.text;
    const key = text.replace(/\s+/g, ' ').slice(0, 90);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return originalQuery.call(this, config, ...rest);
};

const echo = step('count.echo', async (index) => index);
const sequential = workflow('count.sequential', async (n) => {
  for (let index = 0; index < n; index++) await echo(index);
  return n;
});
const server = await startPostgres();
const world = await createPostgresWorld({ connectionString: server.connectionString });
const worker = createWorker({ world, workflows: [sequential], logger: false });
await worker.start();
const client = createClient({ world });
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
  `${(total / runs).toFixed(2)} round trips per run of ${steps} steps; ${(elapsed / runs).toFixed(1)} ms per run`,
);
await worker.stop();
await world.close();
await server.stop();
