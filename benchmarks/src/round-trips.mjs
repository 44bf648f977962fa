// Counts the statements and round trips cairn-postgres sends per workflow, by kind.
// Usage: node benchmarks/src/round-trips.mjs [steps] [runs] [atOnce]. It wraps the driver's
// query method to count what is sent (the database underneath is real), so its timings are
// not comparable. With `atOnce` above 1, each of the `runs` rounds starts that many
// workflows together, as the throughput workloads do (worker concurrency 100, as in the
// matrix's driver), and the counts are per workflow.

import { createPostgresWorld } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';
import pg from 'pg';
import { printCountsPerRun, startSequentialRuns, timeRuns } from './sequential-runs.mjs';

const steps = Number(process.argv[2] ?? 10);
const runs = Number(process.argv[3] ?? 20);
const atOnce = Number(process.argv[4] ?? 1);
const counts = new Map();
let counting = false;
const originalQuery = pg.Client.prototype.query;
pg.Client.prototype.query = function (config, ...rest) {
  if (counting) {
    const text = typeof config === 'string' ? config : config.text;
    // Values inlined into a statement's text (quoted strings, numbers) would make every
    // statement its own kind; they are masked so statements of one shape count together.
    const key = text
      .replace(/\s+/g, ' ')
      .replace(/'(?:[^']|'')*'/g, "'…'")
      .replace(/\b\d+\b/g, 'N')
      .slice(0, 90);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return originalQuery.call(this, config, ...rest);
};

const server = await startPostgres();
const world = await createPostgresWorld({ connectionString: server.connectionString, poolSize: 20 });
const sequential = await startSequentialRuns(world, steps, { concurrency: 100 });
const together = (count) => Promise.all(Array.from({ length: atOnce }, () => sequential.run(count)));
// Warmed up as the matrix warms up a workload: one uncounted round of the same shape.
if (atOnce > 1) await together(steps);
const msPerRound = await timeRuns(together, steps, runs, (on) => {
  counting = on;
});
printCountsPerRun(counts, { runs: runs * atOnce, steps, msPerRun: msPerRound / atOnce, what: 'round trips' });
await sequential.stop();
await world.close();
await server.stop();
