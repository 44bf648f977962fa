// What the counting tools (round-trips.mjs, http-calls.mjs, wal-breakdown.mjs) share: a
// workflow of N sequential no-op steps, run by a worker and a client on the World under
// study, and a table of counts per run.
import { createClient, createWorker, step, workflow } from '@cairn/core';

const echo = step('counting.echo', async (index) => index);
const sequential = workflow('counting.sequential', async (count) => {
  for (let index = 0; index < count; index++) await echo(index);
  return count;
});

/**
 * Starts a worker and a client on `world` and warms them up with 3 runs. `run(steps)` then
 * runs one workflow of that many steps to its result; `stop()` stops the worker.
 * `concurrency`: the worker's (default 10, the worker's own default).
 */
export async function startSequentialRuns(world, warmUpSteps, { concurrency = 10 } = {}) {
  const worker = createWorker({ world, workflows: [sequential], logger: false, concurrency });
  await worker.start();
  const client = createClient({ world });
  const run = async (steps) => (await client.start(sequential, steps)).result();
  for (let i = 0; i < 3; i++) await run(warmUpSteps);
  return { run, stop: () => worker.stop() };
}

/** Runs `runs` workflows of `steps` one after another, with `setCounting` on meanwhile; returns ms per run. */
export async function timeRuns(run, steps, runs, setCounting) {
  setCounting(true);
  const started = performance.now();
  for (let i = 0; i < runs; i++) await run(steps);
  const elapsed = performance.now() - started;
  setCounting(false);
  return elapsed / runs;
}

/** Prints each counted kind per run, most frequent first, then the total as `what` per run. */
export function printCountsPerRun(counts, { runs, steps, msPerRun, what }) {
  let total = 0;
  for (const [key, count] of [...counts].sort((a, b) => b[1] - a[1])) {
    total += count;
    console.log(`${(count / runs).toFixed(2).padStart(7)}  ${key}`);
  }
  console.log(`${(total / runs).toFixed(2)} ${what} per run of ${steps} steps; ${msPerRun.toFixed(1)} ms per run`);
}
