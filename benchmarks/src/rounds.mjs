// Repeated rounds (BENCH_ROUNDS): the machine's speed drifts between minutes, so one round's
// ratio can land anywhere in a wide band. Each round measures every system in turn; a ratio
// or verdict is taken within each round, from that round's own medians and floor, and the
// report gives the median of the rounds' values. The tables pool the rounds' samples.
import { median, summarize } from './statistics.mjs';

/**
 * The order in which round `number` (from 1) measures `systems`: as listed in odd rounds and
 * reversed in even ones. The machine's speed drifts within a round too, and the PostgreSQL
 * server the systems share keeps what the earlier ones wrote; in a fixed order the same
 * systems would always come last.
 */
export function roundOrder(systems, number) {
  return number % 2 === 0 ? [...systems].reverse() : [...systems];
}

/** One summary from several rounds' summaries: their samples pooled where kept. */
export function poolSummaries(summaries) {
  const present = summaries.filter(Boolean);
  if (present.length === 0) return undefined;
  if (present.every((summary) => Array.isArray(summary.samples))) {
    const samples = present.flatMap((summary) => summary.samples);
    return { ...summarize(samples), samples };
  }
  return {
    n: present.reduce((total, summary) => total + summary.n, 0),
    median: median(present.map((summary) => summary.median)),
    p95: Math.max(...present.map((summary) => summary.p95)),
    min: Math.min(...present.map((summary) => summary.min)),
    max: Math.max(...present.map((summary) => summary.max)),
  };
}

const mean = (values) => values.reduce((total, value) => total + value, 0) / values.length;

/** A workload's cell over the rounds: a failure in any round is the cell's status. */
function poolCell(cells) {
  const failed = cells.find((cell) => cell?.status !== 'ok');
  if (failed !== undefined) return failed;
  const pooled = { status: 'ok', ...poolSummaries(cells) };
  const floors = cells.map((cell) => cell.floorAlongside);
  if (floors.every((floor) => floor !== undefined && floor.kind === floors[0].kind)) {
    pooled.floorAlongside = { kind: floors[0].kind, ...poolSummaries(floors) };
  }
  const cpus = cells.map((cell) => cell.cpu).filter(Boolean);
  if (cpus.length === cells.length) {
    pooled.cpu = { driverMsPerRun: mean(cpus.map((cpu) => cpu.driverMsPerRun)) };
    if (cpus.every((cpu) => cpu.postgresMsPerRun !== undefined))
      pooled.cpu.postgresMsPerRun = mean(cpus.map((cpu) => cpu.postgresMsPerRun));
  }
  const warmUps = cells.map((cell) => cell.warmedUp).filter(Boolean);
  if (warmUps.length === cells.length) {
    const runs = warmUps.reduce((total, warmUp) => total + warmUp.runs, 0);
    const ms = warmUps.reduce((total, warmUp) => total + warmUp.ms, 0);
    // Per round: each round's driver is fresh, so each warmed up from cold.
    pooled.warmedUp = { runs: runs / warmUps.length, ms: ms / warmUps.length, runsPerSecond: (runs / ms) * 1000 };
  }
  return pooled;
}

function poolStepIndex(entries) {
  const ok = entries.filter((entry) => entry?.status === 'ok');
  if (ok.length < entries.length) return entries.find((entry) => entry?.status !== 'ok');
  return {
    ...ok[0],
    runs: ok.reduce((total, entry) => total + entry.runs, 0),
    overheadByIndex: ok[0].overheadByIndex.map((_, index) => median(ok.map((entry) => entry.overheadByIndex[index]))),
  };
}

function poolCommits(entries) {
  const ok = entries.filter((entry) => entry?.status === 'ok');
  if (ok.length < entries.length) return entries.find((entry) => entry?.status !== 'ok');
  const { raw: _raw, ...first } = ok[0];
  return {
    ...first,
    perEmptyRun: mean(ok.map((entry) => entry.perEmptyRun)),
    perStep: mean(ok.map((entry) => entry.perStep)),
    walBytesPerStep: mean(ok.map((entry) => entry.walBytesPerStep)),
  };
}

const keysOf = (objects) => [...new Set(objects.flatMap((object) => Object.keys(object ?? {})))];

/**
 * The rounds' measurements as one: `floor`, `results`, `stepIndex` and `commits` shaped as a
 * single round's, for the report's tables. A round that lacks a cell (its system failed to
 * start that round) leaves it out of the pool.
 */
export function poolRounds(rounds) {
  if (rounds.length === 1) return rounds[0];
  const results = {};
  for (const workloadId of keysOf(rounds.map((round) => round.results))) {
    results[workloadId] = {};
    for (const system of keysOf(rounds.map((round) => round.results[workloadId]))) {
      const cells = rounds.map((round) => round.results[workloadId]?.[system]).filter(Boolean);
      results[workloadId][system] = poolCell(cells);
    }
  }
  const pooledEntries = (field, pool) =>
    Object.fromEntries(
      keysOf(rounds.map((round) => round[field])).map((system) => [
        system,
        pool(rounds.map((round) => round[field][system]).filter(Boolean)),
      ]),
    );
  return {
    floor: {
      fsyncAppend: poolSummaries(rounds.map((round) => round.floor.fsyncAppend)),
      committedInsert: poolSummaries(rounds.map((round) => round.floor.committedInsert)),
    },
    results,
    stepIndex: pooledEntries('stepIndex', poolStepIndex),
    commits: pooledEntries('commits', poolCommits),
  };
}
