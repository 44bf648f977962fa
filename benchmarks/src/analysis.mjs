// Derived figures: ratios against peers, cost per step against the floor, overhead by step
// index, and the published targets with MET / MISSED. Inputs are the raw results only, so
// the report can be re-derived from latest.json.
import { pairedComparisons, pairedKey } from './paired.mjs';
import { median, ratioText, summarize } from './statistics.mjs';

/** Windows of 20 steps, so one scheduler hiccup does not decide a target. */
const earlyWindow = [0, 20]; // gaps before steps 2..21: "overhead at step 10"
const lateWindow = [-20, undefined]; // the last 20 gaps: "overhead at step 1,000"

const medianOf = (results, workloadId, systemName) => {
  const cell = results.results[workloadId]?.[systemName];
  return cell?.status === 'ok' ? cell.median : undefined;
};

export function stepIndexWindows(entry) {
  if (entry?.status !== 'ok') return undefined;
  const early = summarize(entry.overheadByIndex.slice(...earlyWindow)).median;
  const late = summarize(entry.overheadByIndex.slice(...lateWindow)).median;
  return { early, late, ratio: late / early };
}

const floorNames = { committedInsert: 'committed INSERT', fsyncAppend: 'fsync append' };

/** The floor a system's cost per step is a multiple of: a commit on the storage it writes to. */
export const floorKindOf = (system) => (system.storage === 'PostgreSQL' ? 'committedInsert' : 'fsyncAppend');

/**
 * The floor a system's cost per step is a multiple of: the median of the floor samples
 * taken alongside its 0- and 50-step cells when both have them, else the round's floor
 * (results from before those samples were taken).
 */
export function floorFor(results, system) {
  const kind = floorKindOf(system);
  const alongside = ['sequential-0', 'sequential-50'].map(
    (workloadId) => results.results[workloadId]?.[system.name]?.floorAlongside,
  );
  if (alongside.every((floor) => floor?.kind === kind && Array.isArray(floor.samples))) {
    return {
      label: `${floorNames[kind]}, sampled alongside`,
      ms: median(alongside.flatMap((floor) => floor.samples)),
    };
  }
  return { label: floorNames[kind], ms: results.floor[kind]?.median };
}

/** Marginal time per step: the 50-step workflow minus the empty one, per step. */
export function marginalStepMs(results, systemName) {
  const fifty = medianOf(results, 'sequential-50', systemName);
  const none = medianOf(results, 'sequential-0', systemName);
  return fifty === undefined || none === undefined ? undefined : (fifty - none) / 50;
}

/**
 * Ratios, cost per step, step-index windows and the targets' verdicts. With several rounds
 * (`results.rounds`), each ratio, cost and target value is the median of the rounds' own
 * values, each taken within one round; the step-index windows come from the pooled rounds.
 */
export function analyse(results, systems) {
  const pooled = analyseRound(results, systems);
  const rounds = results.rounds ?? [];
  if (rounds.length < 2) return { ...pooled, targets: [...pooled.targets, ...pairedTargets(results)] };
  const perRound = rounds.map((round) => analyseRound({ ...round, workloads: results.workloads }, systems));
  const middle = (values) => {
    const measured = values.filter((value) => value !== undefined && value !== null && !Number.isNaN(value));
    return measured.length === 0 ? undefined : median(measured);
  };
  const ratios = {};
  for (const [workloadId, peers] of Object.entries(pooled.ratios)) {
    ratios[workloadId] = {};
    for (const [peer, entry] of Object.entries(peers)) {
      ratios[workloadId][peer] = {
        ...entry,
        ratio: middle(perRound.map((round) => round.ratios[workloadId]?.[peer]?.ratio)),
      };
    }
  }
  const costPerStep = {};
  for (const [name, entry] of Object.entries(pooled.costPerStep)) {
    const ofRounds = (field) => middle(perRound.map((round) => round.costPerStep[name]?.[field]));
    costPerStep[name] = {
      ...entry,
      marginalMs: ofRounds('marginalMs'),
      floorMs: ofRounds('floorMs'),
      multipleOfFloor: ofRounds('multipleOfFloor'),
    };
  }
  const targets = pooled.targets.map((target, index) => {
    const values = perRound.map((round) => round.targets[index].value);
    const value = middle(values);
    if (value === undefined) return target;
    const each = values.map((entry) => ratioText(entry, target.limit)).join(', ');
    return verdict({
      target: target.target,
      limit: target.limit,
      atLeast: target.atLeast,
      value,
      detail: `median of the rounds' values (${each}), each from one round's own measurements`,
    });
  });
  return {
    ratios,
    stepIndex: pooled.stepIndex,
    costPerStep,
    // Paired blocks are measured once, after the rounds: they have no per-round values.
    targets: [...targets, ...pairedTargets(results)],
    rounds: perRound.map((round) => ({ targets: round.targets.map(({ value, status }) => ({ value, status })) })),
  };
}

/** `analyse` for one round's measurements (or the pooled ones). */
function analyseRound(results, systems) {
  const ratios = {};
  for (const workload of results.workloads) {
    for (const peer of systems.filter((system) => system.comparedWith)) {
      const cairn = medianOf(results, workload.id, peer.comparedWith);
      const theirs = medianOf(results, workload.id, peer.name);
      if (cairn === undefined || theirs === undefined) continue;
      ratios[workload.id] ??= {};
      ratios[workload.id][peer.name] = { cairn: peer.comparedWith, ratio: cairn / theirs };
    }
  }

  const stepIndex = {};
  for (const [name, entry] of Object.entries(results.stepIndex)) {
    const windows = stepIndexWindows(entry);
    if (windows) stepIndex[name] = windows;
  }

  const costPerStep = {};
  for (const system of systems) {
    const marginal = marginalStepMs(results, system.name);
    if (marginal === undefined) continue;
    const floor = floorFor(results, system);
    costPerStep[system.name] = {
      marginalMs: marginal,
      floor: floor.label,
      floorMs: floor.ms,
      multipleOfFloor: floor.ms ? marginal / floor.ms : undefined,
      commitsPerStep: results.commits[system.name]?.perStep,
    };
  }

  const targets = [];
  const cairnTen = medianOf(results, 'sequential-10', 'cairn-postgres');
  const dbosTen = medianOf(results, 'sequential-10', 'dbos');
  targets.push(
    verdict({
      target: '10 sequential steps on PostgreSQL in at most 0.5× DBOS’s time',
      limit: 0.5,
      value: cairnTen !== undefined && dbosTen !== undefined ? cairnTen / dbosTen : undefined,
      detail:
        cairnTen !== undefined && dbosTen !== undefined
          ? `cairn-postgres ${cairnTen.toFixed(1)} ms vs dbos ${dbosTen.toFixed(1)} ms (medians)`
          : 'needs sequential-10 on cairn-postgres and dbos',
    }),
  );
  const cost = costPerStep['cairn-postgres'];
  targets.push(
    verdict({
      target: 'Cost per step at most 3× the commit floor (cairn-postgres)',
      limit: 3,
      value: cost?.multipleOfFloor,
      detail: cost
        ? `${cost.marginalMs.toFixed(2)} ms per step vs ${cost.floorMs.toFixed(2)} ms per ${cost.floor}` +
          (cost.commitsPerStep === undefined ? '' : `; ${cost.commitsPerStep.toFixed(2)} WAL commits per step`)
        : 'needs sequential-0 and sequential-50 on cairn-postgres',
    }),
  );
  const httpTen = medianOf(results, 'sequential-10', 'cairn-http');
  targets.push(
    verdict({
      target: '10 sequential steps through world-http in at most 1.3× cairn-postgres’s time',
      limit: 1.3,
      value: httpTen !== undefined && cairnTen !== undefined ? httpTen / cairnTen : undefined,
      detail:
        httpTen !== undefined && cairnTen !== undefined
          ? `cairn-http ${httpTen.toFixed(1)} ms vs cairn-postgres ${cairnTen.toFixed(1)} ms (medians, same run)`
          : 'needs sequential-10 on cairn-http and cairn-postgres',
    }),
  );
  for (const name of ['cairn-postgres', 'cairn-local']) {
    const windows = stepIndex[name];
    targets.push(
      verdict({
        target: `Overhead at step 1,000 at most 1.2× the overhead at step 10 (${name})`,
        limit: 1.2,
        value: windows?.ratio,
        detail: windows
          ? `${windows.early.toFixed(2)} ms around step 10, ${windows.late.toFixed(2)} ms at steps 981–1,000 (medians of 20 gaps)`
          : 'needs the step-index measurement',
      }),
    );
  }
  targets.push(...dbosTargets(results, ratios));
  return { ratios, stepIndex, costPerStep, targets };
}

/** The targets that hold cairn-postgres against DBOS beyond the 10-step time. */
function dbosTargets(results, ratios) {
  const targets = [];
  const measured = Object.entries(ratios)
    .filter(([, peers]) => peers.dbos !== undefined)
    .map(([workloadId, peers]) => ({ workloadId, ratio: peers.dbos.ratio }));
  const slowest = measured.reduce(
    (worst, entry) => (worst === undefined || entry.ratio > worst.ratio ? entry : worst),
    undefined,
  );
  targets.push(
    verdict({
      target: 'Every workload on PostgreSQL in at most 1.0× DBOS’s time',
      limit: 1,
      value: slowest?.ratio,
      detail: slowest
        ? `slowest of ${measured.length} workloads: ${slowest.workloadId}`
        : 'needs a workload measured on cairn-postgres and dbos',
    }),
  );
  for (const workflows of [50, 500]) {
    const cairn = medianOf(results, `throughput-${workflows}`, 'cairn-postgres');
    const dbos = medianOf(results, `throughput-${workflows}`, 'dbos');
    const rate = (medianMs) => (workflows / medianMs) * 1000;
    targets.push(
      verdict({
        target: `${workflows} concurrent workflows at least 2× DBOS’s runs per second`,
        limit: 2,
        atLeast: true,
        value: cairn !== undefined && dbos !== undefined ? dbos / cairn : undefined,
        detail:
          cairn !== undefined && dbos !== undefined
            ? `cairn-postgres ${rate(cairn).toFixed(0)} vs dbos ${rate(dbos).toFixed(0)} runs/s (medians)`
            : `needs throughput-${workflows} on cairn-postgres and dbos`,
      }),
    );
  }
  const cairnCommits = results.commits['cairn-postgres'];
  const dbosCommits = results.commits.dbos;
  const commitsOk = cairnCommits?.status === 'ok';
  targets.push(
    verdict({
      target: 'At most 1 WAL commit per step (cairn-postgres)',
      limit: 1,
      value: commitsOk ? cairnCommits.perStep : undefined,
      detail: commitsOk
        ? `${cairnCommits.perStep.toFixed(2)} commits per step over 50-step runs`
        : 'needs the commit measurement',
    }),
  );
  const bytesOk = commitsOk && dbosCommits?.status === 'ok';
  targets.push(
    verdict({
      target: 'WAL bytes per step no more than DBOS’s',
      limit: 1,
      value: bytesOk ? cairnCommits.walBytesPerStep / dbosCommits.walBytesPerStep : undefined,
      detail: bytesOk
        ? `cairn-postgres ${cairnCommits.walBytesPerStep.toFixed(0)} vs dbos ${dbosCommits.walBytesPerStep.toFixed(0)} bytes per step`
        : 'needs the commit measurement on cairn-postgres and dbos',
    }),
  );
  return targets;
}

/** The ratio targets as measured in paired blocks (paired.mjs), when they were. */
function pairedTargets(results) {
  return pairedComparisons.flatMap((comparison) => {
    const measured = results.paired?.[pairedKey(comparison)];
    if (measured === undefined) return [];
    if (measured.status !== 'ok') {
      return [verdict({ target: comparison.target, limit: comparison.limit, detail: `failed: ${measured.reason}` })];
    }
    return [
      verdict({
        target: comparison.target,
        limit: comparison.limit,
        value: measured.ratio,
        detail:
          `median of ${measured.blocks.length} blocks' ratios (${measured.minRatio.toFixed(2)}× to ${measured.maxRatio.toFixed(2)}×); ` +
          `${comparison.subject} ${measured.subjectMs.toFixed(1)} ms vs ${comparison.reference} ${measured.referenceMs.toFixed(1)} ms (medians of block medians)`,
      }),
    ];
  });
}

/** `atLeast`: the value must reach the limit, where by default it must stay within it. */
function verdict({ target, limit, value, detail, atLeast = false }) {
  const within = atLeast ? value >= limit : value <= limit;
  const status = value === undefined || Number.isNaN(value) ? 'NOT MEASURED' : within ? 'MET' : 'MISSED';
  return { target, limit, ...(atLeast ? { atLeast } : {}), value: value ?? null, status, detail };
}
