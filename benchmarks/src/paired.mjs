// Paired blocks: the two systems a ratio target compares, both started and warmed, then
// measured in alternating blocks of the same workload, so that each ratio compares times
// taken seconds apart instead of minutes. The matrix measures one system at a time, each
// through every workload, and on these machines the speed drifts between minutes: the same
// code's 10-step ratio moved from 1.14× to 2.00× between rounds of one run. Blocks run in
// ABBA order (subject first, then reference first, then reference first, then subject
// first), so neither side always runs straight after the other.
import { summarize } from './statistics.mjs';
import { driverWarmUp, warmUp } from './warm-up.mjs';
import { workloads } from './workloads.mjs';

/** The matrix's own workload `id`: the same operation, parameters and result check. */
const workload = (id) => workloads.find((candidate) => candidate.id === id);
const sequentialTen = workload('sequential-10');

/**
 * The ratio targets measured this way: `subject`'s time over `reference`'s, on `workload`.
 * Besides the two 10-step targets, the sequential cells that come closest to DBOS in the
 * rounds: a run of sequential steps costs both systems about one commit per step, so their
 * per-step costs decide those cells, and in the rounds they are measured in processes that
 * have barely warmed up, where a new payload shape sets back whichever code meets it.
 */
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
  ...[
    ['sequential-25', '25 sequential steps'],
    ['sequential-50', '50 sequential steps'],
    ['sequential-10kb-10', '10 sequential steps of 10 KB'],
  ].map(([id, name]) => ({
    subject: 'cairn-postgres',
    reference: 'dbos',
    workload: workload(id),
    target: `${name} on PostgreSQL in at most 1.0× DBOS’s time, in paired blocks`,
    limit: 1,
  })),
];

/**
 * Where a comparison's measurement is kept in the results: by its pair, and by its workload
 * too where that is not the 10-step one (the key earlier results files use).
 */
export function pairedKey(comparison) {
  const pair = `${comparison.subject}/${comparison.reference}`;
  return comparison.workload === sequentialTen ? pair : `${pair} ${comparison.workload.id}`;
}

/** How the report names a comparison: its pair, and its workload where that is not the 10-step one. */
export function pairedLabel(key) {
  const comparison = pairedComparisons.find((candidate) => pairedKey(candidate) === key);
  const [pair] = key.split(' ');
  const sides = pair.replace('/', ' ÷ ');
  return comparison === undefined || comparison.workload === sequentialTen
    ? sides
    : `${sides}, ${comparison.workload.title}`;
}

/**
 * Each side's warm-up (runs of the compared workload, warm-up.mjs), blocks, and runs per
 * side in each block. An odd number of blocks, so that the median ratio is one block's own,
 * not the lower of the middle two.
 */
export function pairedPlan(full) {
  return full
    ? { warmUp: driverWarmUp, blocks: 17, runsPerBlock: 15 }
    : { warmUp: driverWarmUp, blocks: 9, runsPerBlock: 10 };
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
  const warmedUp = {};
  for (const side of ['subject', 'reference']) warmedUp[side] = await warmUp(sides[side], plan.warmUp);
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
  return { ...summarisePaired(blocks), warmedUp };
}
