// The workload matrix. Each workload is one driver operation with fixed parameters; the
// runner repeats it and keeps one sample per call. Quick mode (the default) is a subset
// with fewer repetitions; BENCH_FULL=1 runs every row.

const kilobytes10 = 10 * 1024;

/** How a reply becomes a sample, in milliseconds. */
const elapsed = (reply) => reply.elapsedMs;

/**
 * @typedef {{
 *   id: string, group: string, title: string, op: string, params: object, quick: boolean,
 *   expect?: (value: unknown) => boolean, sample?: (reply: object) => number, heavy?: boolean,
 *   floorAlongside?: boolean,
 * }} Workload
 *
 * `floorAlongside`: a cell a cost per step is taken from; the runner samples the storage's
 * floor after each of its samples, so the two are measured in the same conditions.
 */

/** @type {Workload[]} */
export const workloads = [
  ...[0, 1, 10, 25, 50].map((steps) => ({
    id: `sequential-${steps}`,
    group: 'Step counts',
    title: steps === 0 ? 'workflow with no steps' : `${steps} sequential step${steps === 1 ? '' : 's'}`,
    op: 'sequential',
    params: { steps, payloadBytes: 0 },
    quick: true,
    expect: (value) => value === steps,
    ...(steps === 0 || steps === 50 ? { floorAlongside: true } : {}),
  })),
  ...['all', 'race'].flatMap((mode) =>
    [10, 25, 50].map((steps) => ({
      id: `${mode}-${steps}`,
      group: 'Concurrency',
      title: `Promise.${mode} over ${steps} steps`,
      op: 'concurrent',
      params: { steps, payloadBytes: 0, mode },
      quick: steps !== 25,
      expect: (value) => value === (mode === 'all' ? steps : 1),
    })),
  ),
  ...[10, 25, 50].flatMap((steps) => [
    {
      id: `sequential-10kb-${steps}`,
      group: 'Payloads',
      title: `${steps} sequential steps, 10 KB payloads`,
      op: 'sequential',
      params: { steps, payloadBytes: kilobytes10 },
      quick: steps === 10,
      expect: (value) => value === steps,
    },
    {
      id: `all-10kb-${steps}`,
      group: 'Payloads',
      title: `Promise.all over ${steps} steps, 10 KB payloads`,
      op: 'concurrent',
      params: { steps, payloadBytes: kilobytes10, mode: 'all' },
      quick: steps === 10,
      expect: (value) => value === steps,
    },
  ]),
  {
    id: 'map-1000',
    group: 'Fan-out',
    title: 'map over 1,000 items, maxConcurrency 50',
    op: 'map',
    params: { items: 1000, maxConcurrency: 50 },
    quick: true,
    heavy: true,
    expect: (value) => value === 1000,
  },
  {
    id: 'hook-resume',
    group: 'Hooks and streams',
    title: 'hook resume to result',
    op: 'hookResume',
    params: {},
    quick: true,
    sample: (reply) => reply.value.resumeToResultMs,
  },
  {
    id: 'stream-first-chunk',
    group: 'Hooks and streams',
    title: 'stream time to first chunk',
    op: 'streamFirstChunk',
    params: {},
    quick: true,
    sample: (reply) => reply.value.firstChunkMs,
  },
  {
    id: 'stream-1mb',
    group: 'Hooks and streams',
    title: '1 MB stream, 16 KB chunks, start to last byte',
    op: 'streamThroughput',
    params: { totalBytes: 1 << 20, chunkBytes: 16 * 1024 },
    quick: true,
    expect: (value) => value?.bytes === 1 << 20,
  },
  ...[50, 500].map((workflows) => ({
    id: `throughput-${workflows}`,
    group: 'Throughput',
    title: `${workflows} concurrent workflows of 1 step`,
    op: 'many',
    params: { workflows, steps: 1 },
    quick: workflows === 50,
    heavy: workflows === 500,
    expect: (value) => value === workflows,
  })),
];

/** Step overhead against step index: one workflow of this many no-op steps per repetition. */
export const stepIndexSteps = 1000;

/** Steps per run, and runs per bracket, for commits per step (PostgreSQL-backed systems). */
export const commitBracket = { steps: 50, runs: 5 };

export function selectWorkloads(full) {
  return workloads.filter((workload) => full || workload.quick);
}

export function sampleOf(workload, reply) {
  return (workload.sample ?? elapsed)(reply);
}

/**
 * How long a throughput cell warms up before its samples: calls until this many runs have
 * been made, or this long has passed, whichever comes first. A burst keeps both cores busy,
 * so V8's optimising compiler, which runs on a background thread, competes with the work
 * it is optimising: in bursts of 50 one-step runs, cairn-postgres's CPU per run took about
 * 5,000 runs to fall to its floor (from 1.7 to about 0.35 ms), and DBOS's rate about 5,000
 * runs to level off. A rate taken in the first thousand runs measures that warm-up, not the
 * rate a worker keeps. The time bound keeps slow systems from stretching the run; the report
 * says how many runs each cell warmed up with, and at what rate.
 */
export const throughputWarmUp = { runs: 5000, budgetMs: 20_000 };

/**
 * Repetitions per workload and per system, and a wall-clock budget after which a slow
 * system stops repeating (it still gets at least `minimum` samples), so one slow peer
 * cannot hold the whole run hostage. The report shows how many samples each cell has.
 */
export function repetitionsFor(workload, full) {
  const warmUp = workload.op === 'many' ? { warmUp: throughputWarmUp } : {};
  if (full)
    return workload.heavy
      ? { target: 5, minimum: 2, budgetMs: 120_000, ...warmUp }
      : { target: 20, minimum: 3, budgetMs: 60_000, ...warmUp };
  return workload.heavy
    ? { target: 3, minimum: 1, budgetMs: 30_000, ...warmUp }
    : { target: 7, minimum: 3, budgetMs: 15_000, ...warmUp };
}
