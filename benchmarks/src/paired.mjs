// Paired blocks: the two systems a ratio target compares, both started and warmed, then
// measured in alternating blocks of the same workload, so that each ratio compares times
// taken seconds apart instead of minutes. The matrix measures one system at a time, each
// through every workload, and on these machines the speed drifts between minutes: the same
// code's 10-step ratio moved from 1.14× to 2.00× between rounds of one run. Blocks run in
// ABBA order (subject first, then reference first, then reference first, then subject
// first), so neither side always runs straight after the other.
import { summarize } from './statistics.mjs';
import { workloads } from './workloads.mjs';

/** The matrix's own 10-step workload: the same operation, parameters and result check. */
const sequentialTen = workloads.find((workload) => workload.id === 'sequential-10');

/** The ratio targets measured this way: `subject`'s time over `reference`'s, on `workload`. */
export const pairedComparisons = [
  {
    subject: 'cairn-postgres',
    reference: 'dbos',
    workload: sequentialTen,
    target: '10 sequential steps on PostgreSQL in at most 0.5× DBOS’s time, in paired blocks',
    limit: 0.5,
  },
  {
    subject: 'cairn-http',
    reference: 'cairn-postgres',
    workload: sequentialTen,
    target: '10 sequential steps through world-http in at most 1.3× cairn-postgres’s time, in paired blocks',
    limit: 1.3,
  },
];

/**
 * Warm-up runs per side, blocks, and runs per side in each block. An odd number of blocks,
 * so that the median ratio is one block's own, not the lower of the middle two.
 */
export function pairedPlan(full) {
  return full ? { warmUp: 30, blocks: 17, runsPerBlock: 15 } : { warmUp: 20, blocks: 9, runsPerBlock: 10 };
}

/** Which side runs first in block `index` (0-based): ABBA, repeated. */
export function firstInBlock(index) {
  return index % 4 === 0 || index % 4 === 3 ? 'subject' : 'reference';
}

/**
 * The blocks' medians as one result: the target's value is the median of the blocks' own
 * ratios (each block's subject median over its reference median).
 */
export function summarisePaired(blocks) {
  const ratios = blocks.map((block) => block.subjectMs / block.referenceMs);
  const spread = summarize(ratios);
  return {
    status: 'ok',
    ratio: spread.median,
    minRatio: spread.min,
    maxRatio: spread.max,
    subjectMs: summarize(blocks.map((block) => block.subjectMs)).median,
    referenceMs: summarize(blocks.map((block) => block.referenceMs)).median,
    blocks,
  };
}

/**
 * Measures one comparison. `sides` holds a started driver's `run()` for `subject` and
 * `reference`, each resolving with one run's time in ms; both get the same warm-up.
 */
export async function measurePaired(sides, plan) {
  for (const side of ['subject', 'reference']) {
    for (let index = 0; index < plan.warmUp; index++) await sides[side]();
  }
  const blocks = [];
  for (let index = 0; index < plan.blocks; index++) {
    const first = firstInBlock(index);
    const order = first === 'subject' ? ['subject', 'reference'] : ['reference', 'subject'];
    const block = { first };
    for (const side of order) {
      const times = [];
      for (let run = 0; run < plan.runsPerBlock; run++) times.push(await sides[side]());
      block[`${side}Ms`] = summarize(times).median;
    }
    blocks.push(block);
  }
  return summarisePaired(blocks);
}
