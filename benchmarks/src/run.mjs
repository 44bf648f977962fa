// `npm run bench`: every workload on every system, one system at a time, on one machine
// and one PostgreSQL, then the floor, the ratios, the targets and the report.
//
//   BENCH_FULL=1          the full matrix and more repetitions (default: quick)
//   BENCH_SYSTEMS=a,b     only these systems (names as in systems.mjs)
//   BENCH_WORKLOADS=a,b   only these workloads (ids as in workloads.mjs; 'step-index',
//                         'commits' and 'scale' name the special measurements)
//   BENCH_ROUNDS=n        measure every system n times in turn, every other round in
//                         reverse order (default 1); ratios and
//                         verdicts are the median of the rounds' own (rounds.mjs)
//   BENCH_COMMIT=name     what the report says was measured (default: this checkout's
//                         short hash, with -dirty for uncommitted changes; commit.mjs)
//
// After the rounds, the ratio targets are measured again in paired blocks (paired.mjs):
// both systems alive at once, alternating ('paired' names it in BENCH_WORKLOADS).
//
// Before each system, and before each pair of paired blocks, the shared server is settled
// (settle.mjs): every database vacuumed, no autovacuum or other query left running, and a
// checkpoint. Otherwise the server's background work for what one system wrote runs while
// the next one is measured.
//
// 'scale' (scale/index.mjs) seeds a million events before it measures, so it runs only in
// the full matrix or when named in BENCH_WORKLOADS, and only when cairn-postgres is selected.
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { startPostgres } from '@cairn/world-postgres/testing';
import { startRedis } from '@cairn/world-redis/testing';
import pg from 'pg';
import { analyse, floorKindOf } from './analysis.mjs';
import { renderStepOverheadChart } from './chart.mjs';
import { checkoutCommit } from './commit.mjs';
import { openWalProbe } from './commits.mjs';
import { postmasterPid, treeCpuMs } from './cpu.mjs';
import { databaseUrl, recreateDatabase } from './databases.mjs';
import { startDriver } from './driver-process.mjs';
import { measureFloors, openFloorProbe } from './floor.mjs';
import { measurePaired, pairedComparisons, pairedKey, pairedLabel, pairedPlan } from './paired.mjs';
import { renderMarkdown, resultsJson } from './report.mjs';
import { poolRounds, roundOrder } from './rounds.mjs';
import { measureScale } from './scale/index.mjs';
import { settleServer } from './settle.mjs';
import { summarize } from './statistics.mjs';
import { directoryOf, preparePeer, systems } from './systems.mjs';
import { driverWarmUp, warmUp } from './warm-up.mjs';
import { commitBracket, repetitionsFor, sampleOf, selectWorkloads, stepIndexSteps, workloads } from './workloads.mjs';

const full = process.env.BENCH_FULL === '1';
/** What every fresh driver runs before its cells (warm-up.mjs). */
const warmUpWorkload = workloads.find((workload) => workload.id === 'sequential-10');
const only = (variable) =>
  process.env[variable]
    ?.split(',')
    .map((name) => name.trim())
    .filter(Boolean);
const systemFilter = only('BENCH_SYSTEMS');
const workloadFilter = only('BENCH_WORKLOADS');
const wanted = (id) => !workloadFilter || workloadFilter.includes(id);
const selectedSystems = systems.filter((system) => !systemFilter || systemFilter.includes(system.name));
const selectedWorkloads = selectWorkloads(full).filter((workload) => wanted(workload.id));
const scaleWanted =
  selectedSystems.some((system) => system.name === 'cairn-postgres') &&
  (workloadFilter ? workloadFilter.includes('scale') : full);
// A filtered run is for trying things: it must not overwrite the published latest results.
const resultsDirectory = new URL(systemFilter || workloadFilter ? '../results/tmp/' : '../results/', import.meta.url)
  .pathname;
const roundCount = Number(process.env.BENCH_ROUNDS ?? 1);
if (!Number.isInteger(roundCount) || roundCount < 1) {
  throw new Error(`BENCH_ROUNDS must be a whole number of at least 1, not ${JSON.stringify(process.env.BENCH_ROUNDS)}`);
}
// Floor samples after each sample of a cell a cost per step is taken from (about 5 ms).
const floorSamplesPerCall = 10;
// A call past this is reported as failed ("timed out after N s") and its driver replaced.
const callTimeoutMs = full ? 600_000 : 120_000;

const startedAt = Date.now();
const stamp = () => `${((Date.now() - startedAt) / 1000).toFixed(0).padStart(4)}s`;
const say = (message) => console.log(`[${stamp()}] ${message}`);
const format = (ms) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

say(`Cairn benchmarks, ${full ? 'full matrix (BENCH_FULL=1)' : 'quick mode (BENCH_FULL=1 for the full matrix)'}`);
say(`systems: ${selectedSystems.map((system) => system.name).join(', ')}`);

const scratch = await mkdtemp(join(tmpdir(), 'cairn-bench-'));
const server = await startPostgres('bench_admin');
// Started only when cairn-redis is measured; every driver start gets a fresh key prefix.
const redis = selectedSystems.some((system) => system.redis) ? await startRedis() : undefined;
let redisPrefixes = 0;
const adminUrl = server.connectionString;
const urlFor = (database) => databaseUrl(adminUrl, database);
const admin = new pg.Client({ connectionString: adminUrl });
await admin.connect();
const postgresVersion = (await admin.query('SHOW server_version')).rows[0].server_version;
const postgresPid = await postmasterPid(admin);
say(`PostgreSQL ${postgresVersion} on loopback (fsync on, synchronous_commit on)`);

const results = {
  meta: {
    mode: full ? 'full' : 'quick',
    date: new Date().toISOString(),
    node: process.version,
    cpu: `${cpus()[0]?.model ?? 'unknown'} × ${cpus().length}`,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    postgres: postgresVersion,
    commit: process.env.BENCH_COMMIT ?? checkoutCommit(new URL('..', import.meta.url).pathname),
    rounds: roundCount,
  },
  floor: {},
  systems: {},
  workloads: selectedWorkloads.map(({ id, group, title, op, params }) => ({ id, group, title, op, params })),
  results: {},
  stepIndex: {},
  commits: {},
  // How long settling the server took before each system and each pair of paired blocks
  // (settle.mjs), in ms.
  settling: [],
  // What each driver's warm-up did before its cells and before paired blocks (warm-up.mjs).
  warmUps: [],
};

const floorProbe = await openFloorProbe({ directory: scratch, connectionString: urlFor('bench_admin') });
try {
  const walProbe = await openWalProbe(adminUrl);
  const rounds = [];
  for (let number = 1; number <= roundCount; number++) {
    if (roundCount > 1) say(`round ${number} of ${roundCount}`);
    const round = { floor: {}, results: {}, stepIndex: {}, commits: {} };
    rounds.push(round);
    say('floor: fsync append on local disk, committed INSERT on PostgreSQL');
    round.floor = await measureFloors(floorProbe);
    say(
      `floor: fsync append ${format(round.floor.fsyncAppend.median)} ms, committed INSERT ${format(round.floor.committedInsert.median)} ms (medians)`,
    );
    for (const system of roundOrder(selectedSystems, number)) {
      await benchmarkSystem(system, walProbe, round, number);
    }
  }
  await walProbe.close();
  // One round's measurements are the top-level ones; only several are also kept apart.
  Object.assign(results, poolRounds(rounds));
  if (rounds.length > 1) results.rounds = rounds;
  if (wanted('paired')) {
    results.paired = {};
    for (const comparison of pairedComparisons) {
      const sides = [comparison.subject, comparison.reference];
      if (!sides.every((name) => results.systems[name]?.status === 'ok')) continue;
      say(`paired blocks: ${pairedLabel(pairedKey(comparison))}`);
      const measured = await measureComparison(comparison);
      results.paired[pairedKey(comparison)] = measured;
      say(
        `paired blocks: ${measured.status === 'ok' ? `${measured.ratio.toFixed(2)}× (blocks ${measured.minRatio.toFixed(2)} to ${measured.maxRatio.toFixed(2)})` : measured.reason}`,
      );
    }
  }
  if (scaleWanted) {
    // Seeding plus measuring take a few minutes; past this something hangs, and stopping the
    // server below ends whatever is still waiting on it.
    let timer;
    const timeout = new Promise((resolve) => {
      timer = setTimeout(
        () => resolve({ status: 'failed', reason: 'timed out after 30 min', measurements: [], plans: [], checks: [] }),
        30 * 60_000,
      );
    });
    results.scale = await Promise.race([measureScale({ admin, urlFor, say }), timeout]);
    clearTimeout(timer);
    // A scale run that could not measure (a seeded row read back wrong, say) fails the command.
    if (results.scale.status !== 'ok') process.exitCode = 1;
  }
} finally {
  await floorProbe.close();
  await admin.end();
  await server.stop();
  await redis?.stop();
  await rm(scratch, { recursive: true, force: true });
}

results.meta.durationSeconds = Math.round((Date.now() - startedAt) / 1000);
results.analysis = analyse(results, systems);
await mkdir(resultsDirectory, { recursive: true });
await writeFile(join(resultsDirectory, 'latest.json'), `${resultsJson(results)}\n`);
await writeFile(join(resultsDirectory, 'latest.md'), renderMarkdown(results, systems));
await writeFile(join(resultsDirectory, 'step-overhead.svg'), renderStepOverheadChart(results));
say(`wrote latest.json, latest.md and step-overhead.svg in ${resultsDirectory}`);
console.log(`\n${renderMarkdown(results, systems, { targetsOnly: true })}`);

// ---------------------------------------------------------------------------------------

/**
 * Measures `system` once, in round `number`, writing its cells, step-index overheads and
 * commits into `round`.
 */
async function benchmarkSystem(system, walProbe, round, number) {
  const record = { storage: system.storage, status: 'ok' };
  results.systems[system.name] = record;
  const unavailable = preparePeer(system, say);
  if (unavailable) {
    Object.assign(record, { status: 'skipped', reason: unavailable });
    say(`${system.name}: skipped (${unavailable})`);
    return;
  }
  // A driver replaced after a timeout leaves its unfinished runs behind; on the old state,
  // the new driver's World would resume them and they would compete with every later
  // measurement. So a replacement, too, starts on a fresh database.
  const start = async () => {
    await freshDatabase(system, databaseOf(system));
    return startSystemDriver(system, databaseOf(system));
  };
  let driver;
  try {
    await freshDatabase(system, databaseOf(system));
    await settle({ round: number, system: system.name });
    driver = await startSystemDriver(system, databaseOf(system));
  } catch (error) {
    Object.assign(record, { status: 'failed', reason: firstLine(error) });
    say(`${system.name}: could not start (${firstLine(error)})`);
    return;
  }
  record.version = driver.ready.version;
  say(`${system.name} ${driver.ready.version}: ready`);

  /** A call that cannot hang the run: past the timeout the driver is replaced. */
  const call = async (op, params) => {
    try {
      return await withinCallTimeout(driver.call(op, params));
    } catch (error) {
      await driver.kill();
      say(`${system.name}: ${op} ${firstLine(error)}; replacing the driver on a fresh database and data directory`);
      driver = await start();
      throw error;
    }
  };

  try {
    const warmed = await warmUp(async () => {
      const reply = await call(warmUpWorkload.op, warmUpWorkload.params);
      return sampleOf(warmUpWorkload, await checked(warmUpWorkload, reply));
    }, driverWarmUp);
    results.warmUps.push({ round: number, system: system.name, ...warmed });
    say(`${system.name} warm-up: ${describeWarmUp(warmed)}`);
    for (const workload of selectedWorkloads) {
      round.results[workload.id] ??= {};
      round.results[workload.id][system.name] = await measureWorkload(workload, driver.ready, call, {
        cpuNow: () => cpuNow(driver.pid, system),
        floorKind: floorKindOf(system),
      });
      const cell = round.results[workload.id][system.name];
      say(`${system.name} ${workload.id}: ${describe(cell)}`);
    }
    if (wanted('step-index')) {
      round.stepIndex[system.name] = await measureStepIndex(driver.ready, call);
      say(`${system.name} step-index: ${describeStepIndex(round.stepIndex[system.name])}`);
    }
    if (system.database && wanted('commits')) {
      round.commits[system.name] = await measureCommits(call, walProbe, databaseOf(system));
      const commits = round.commits[system.name];
      say(
        `${system.name} commits: ${commits.status === 'ok' ? `${commits.perStep.toFixed(2)} per step, ${commits.perEmptyRun.toFixed(1)} per run with no steps` : commits.reason}`,
      );
    }
  } finally {
    await driver.close();
  }
}

/** `system`'s database in the matrix (the paired blocks add a suffix, to run beside it). */
function databaseOf(system) {
  return `bench_${system.name.replaceAll('-', '_')}`;
}

/** `reply`, or a rejection once `callTimeoutMs` passes: no driver call can hang the run. */
async function withinCallTimeout(reply) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${callTimeoutMs / 1000} s`)), callTimeoutMs);
  });
  try {
    return await Promise.race([reply, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Settles the shared server (settle.mjs) and records how long it took under `entry`'s
 * labels; a server that stays busy past the timeout is reported and the run goes on.
 */
async function settle(entry) {
  const settled = await settleServer(admin, { connectionString: adminUrl });
  results.settling.push({ ...entry, ...settled });
  if (settled.unsettled) say(`settling the server before ${entry.system ?? entry.paired}: ${settled.unsettled}`);
}

/** Drops `database` if it exists and creates it empty, for a `system` on PostgreSQL. */
async function freshDatabase(system, database) {
  if (!system.database) return;
  await recreateDatabase(admin, database);
}

/**
 * Starts `system`'s driver on `database` (which its caller has just made with
 * `freshDatabase`) and a fresh data directory.
 */
async function startSystemDriver(system, database) {
  const dataDir = await mkdtemp(join(scratch, `${system.name}-`));
  return startDriver({
    directory: directoryOf(system),
    options: {
      databaseUrl: system.database
        ? urlFor(database)
        : system.redis
          ? `${redis.url}#bench-${system.name}-${++redisPrefixes}`
          : undefined,
      dataDir,
      variant: system.variant,
    },
    log: process.env.BENCH_VERBOSE === '1' ? (line) => say(`  ${system.name} | ${line}`) : () => {},
  });
}

/**
 * The paired-block measurement of `comparison` (paired.mjs): both systems' drivers at once,
 * each on a database of its own, alternating. A side that fails or passes the call timeout
 * fails the comparison; the matrix's own ratio stands regardless. The server is settled
 * once, before either driver starts, so that neither side's blocks meet the background
 * work the rounds (or the previous comparison) left; within the blocks, what each side's
 * own writes cost the server falls on both sides alike.
 */
async function measureComparison(comparison) {
  const drivers = {};
  try {
    const sides = ['subject', 'reference'].map((side) => ({
      side,
      system: systems.find((candidate) => candidate.name === comparison[side]),
    }));
    for (const { system } of sides) await freshDatabase(system, `${databaseOf(system)}_paired`);
    await settle({ paired: `${comparison.subject}/${comparison.reference}` });
    for (const { side, system } of sides) {
      drivers[side] = await startSystemDriver(system, `${databaseOf(system)}_paired`);
    }
    const { workload } = comparison;
    const runOn = (side) => async () =>
      sampleOf(
        workload,
        await checked(workload, await withinCallTimeout(drivers[side].call(workload.op, workload.params))),
      );
    return await measurePaired({ subject: runOn('subject'), reference: runOn('reference') }, pairedPlan(full));
  } catch (error) {
    return { status: 'failed', reason: firstLine(error) };
  } finally {
    for (const driver of Object.values(drivers)) await driver.close();
  }
}

/** CPU used so far by the driver (with what it started) and, for a system on it, PostgreSQL. */
function cpuNow(driverPid, system) {
  return { driver: treeCpuMs(driverPid), postgres: system.database ? treeCpuMs(postgresPid) : undefined };
}

/**
 * `cpuNow` readings: the throughput workloads report CPU per run, as what bounds runs per
 * second. After each sample of a workload a cost per step is taken from, the floor of the
 * system's storage (`floorKind`) is sampled too: the round's floor is a few seconds of one
 * moment, and the disk's and the server's speed drift more than a cost per step can bear.
 */
async function measureWorkload(workload, ready, call, { cpuNow, floorKind }) {
  if (!ready.operations.includes(workload.op)) {
    return { status: 'unsupported', reason: `${ready.system} has no equivalent of '${workload.op}'` };
  }
  const { target, minimum, budgetMs, warmUp: throughputPlan } = repetitionsFor(workload, full);
  const samples = [];
  const floorSamples = [];
  let warmedUp;
  let cpu;
  try {
    if (throughputPlan !== undefined) warmedUp = await warmUpThroughput(workload, call, throughputPlan);
    else if (!workload.heavy) await checked(workload, await call(workload.op, workload.params)); // warm-up
    const began = performance.now();
    const cpuBefore = workload.op === 'many' ? cpuNow() : undefined;
    while (samples.length < target && (samples.length < minimum || performance.now() - began < budgetMs)) {
      samples.push(sampleOf(workload, await checked(workload, await call(workload.op, workload.params))));
      if (workload.floorAlongside) floorSamples.push(...(await floorProbe.take(floorKind, floorSamplesPerCall)));
    }
    if (cpuBefore !== undefined) {
      const cpuAfter = cpuNow();
      const runs = samples.length * workload.params.workflows;
      cpu = {
        driverMsPerRun: (cpuAfter.driver - cpuBefore.driver) / runs,
        ...(cpuBefore.postgres === undefined
          ? {}
          : { postgresMsPerRun: (cpuAfter.postgres - cpuBefore.postgres) / runs }),
      };
    }
  } catch (error) {
    return { status: 'failed', reason: firstLine(error), samples };
  }
  return {
    status: 'ok',
    ...summarize(samples),
    samples,
    ...(cpu === undefined ? {} : { cpu }),
    ...(warmedUp === undefined ? {} : { warmedUp }),
    ...(floorSamples.length === 0
      ? {}
      : { floorAlongside: { kind: floorKind, ...summarize(floorSamples), samples: floorSamples } }),
  };
}

/**
 * Repeats a throughput workload untimed until `plan.runs` runs were made or
 * `plan.budgetMs` passed (workloads.mjs says why); what it did, for the report.
 */
async function warmUpThroughput(workload, call, plan) {
  const warm = async () => void (await checked(workload, await call(workload.op, workload.params)));
  const { runs, ms } = await warmUp(warm, plan, { runsPerCall: workload.params.workflows });
  return { runs, ms, runsPerSecond: (runs / ms) * 1000 };
}

async function checked(workload, reply) {
  if (!reply.ok) throw new Error(reply.error);
  if (workload.expect && !workload.expect(reply.value)) {
    throw new Error(`wrong result ${JSON.stringify(reply.value)?.slice(0, 80)} for ${JSON.stringify(workload.params)}`);
  }
  return reply;
}

/** Per-index gaps between consecutive step bodies, the median across repetitions. */
async function measureStepIndex(ready, call) {
  if (!ready.operations.includes('stepTimestamps')) return { status: 'unsupported' };
  // Several workflows, and the median at each index: one workflow's 20-gap window moved a
  // fast system's late ÷ early ratio between 0.60 and 1.03 from one workflow to the next on
  // an idle machine, more than the target's margin.
  const runs = full ? 5 : 3;
  const gapsPerRun = [];
  try {
    for (let run = 0; run < runs; run++) {
      const reply = await call('stepTimestamps', { steps: stepIndexSteps });
      if (!reply.ok) throw new Error(reply.error);
      const { timestamps } = reply.value;
      if (timestamps.length !== stepIndexSteps) throw new Error(`got ${timestamps.length} timestamps`);
      gapsPerRun.push(timestamps.slice(1).map((time, index) => time - timestamps[index]));
    }
  } catch (error) {
    return { status: 'failed', reason: firstLine(error) };
  }
  // gaps[i] is the overhead of step i+1 (1-based index of the step that just ran).
  const perIndex = gapsPerRun[0].map((_, index) => summarize(gapsPerRun.map((gaps) => gaps[index])).median);
  return { status: 'ok', runs, steps: stepIndexSteps, overheadByIndex: perIndex };
}

/**
 * Commits per step: WAL commit records over `runs` workflows of `steps` steps, minus the
 * same number of workflows with no steps, per step. What a run costs to start and finish
 * cancels out, and so does anything the system commits in the background at a steady rate.
 * Each bracket starts from a checkpoint, for every system alike (see `commits.mjs`). Only
 * the commits of transactions that wrote a table of `database` count: the server is shared,
 * and a background ANALYZE or another database's work that lands in a bracket is not the
 * system's.
 */
async function measureCommits(call, walProbe, database) {
  const bracket = async (steps) => {
    await walProbe.checkpoint();
    const start = await walProbe.position();
    for (let run = 0; run < commitBracket.runs; run++) {
      const reply = await call('sequential', { steps, payloadBytes: 0 });
      if (!reply.ok || reply.value !== steps) throw new Error(reply.error ?? `wrong result ${reply.value}`);
    }
    return walProbe.since(start, { database });
  };
  try {
    const empty = await bracket(0);
    const stepped = await bracket(commitBracket.steps);
    const totalSteps = commitBracket.steps * commitBracket.runs;
    return {
      status: 'ok',
      ...commitBracket,
      perEmptyRun: empty.commits / commitBracket.runs,
      perStep: (stepped.commits - empty.commits) / totalSteps,
      walBytesPerStep: (stepped.walBytes - empty.walBytes) / totalSteps,
      raw: { empty, stepped },
    };
  } catch (error) {
    return { status: 'failed', reason: firstLine(error) };
  }
}

function describeWarmUp(warmed) {
  const last =
    warmed.lastTenMedianMs === undefined ? '' : `, the last ten at ${format(warmed.lastTenMedianMs)} ms (median)`;
  return `${warmed.runs} runs of 10 steps in ${(warmed.ms / 1000).toFixed(1)} s${last}`;
}

function describe(cell) {
  if (cell.status !== 'ok') return `${cell.status}: ${cell.reason}`;
  return `median ${format(cell.median)} ms, p95 ${format(cell.p95)} ms (n=${cell.n})`;
}

function describeStepIndex(entry) {
  if (entry.status !== 'ok') return `${entry.status}${entry.reason ? `: ${entry.reason}` : ''}`;
  const window = (from, to) => summarize(entry.overheadByIndex.slice(from, to)).median;
  return `overhead ~step 10: ${format(window(0, 20))} ms, ~step 1000: ${format(window(-20))} ms`;
}

function firstLine(error) {
  return String(error instanceof Error ? error.message : error).split('\n')[0];
}
