// The benchmark's own machinery, so a broken runner shows up in `npm test` rather than as
// wrong numbers: order statistics, the verdicts, the SQL commit counter, and the driver
// protocol end to end with Cairn's driver on world-local.
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startPostgres } from '@cairn/world-postgres/testing';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { analyse } from '../src/analysis.mjs';
import { renderStepOverheadChart } from '../src/chart.mjs';
import { checkoutCommit } from '../src/commit.mjs';
import { openWalProbe } from '../src/commits.mjs';
import { treeCpuMs } from '../src/cpu.mjs';
import { databaseUrl, recreateDatabase } from '../src/databases.mjs';
import { startDriver } from '../src/driver-process.mjs';
import { firstInBlock, measurePaired, pairedComparisons, pairedKey, summarisePaired } from '../src/paired.mjs';
import { renderMarkdown, resultsJson } from '../src/report.mjs';
import { poolRounds, roundOrder } from '../src/rounds.mjs';
import { percentile, summarize } from '../src/statistics.mjs';
import { systems } from '../src/systems.mjs';
import { driverWarmUp, warmUp } from '../src/warm-up.mjs';
import { repetitionsFor, throughputWarmUp, workloads } from '../src/workloads.mjs';

describe('the commit a run records', () => {
  it('names the checkout, marks uncommitted changes, and is null outside git', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'cairn-bench-commit-'));
    try {
      expect(checkoutCommit(directory)).toBeNull();
      const git = (...args) => execFileSync('git', args, { cwd: directory, encoding: 'utf8' }).trim();
      git('init', '--quiet');
      await writeFile(join(directory, 'file.txt'), 'one');
      git('add', 'file.txt');
      git('-c', 'user.name=bench', '-c', 'user.email=bench@example.invalid', 'commit', '--quiet', '-m', 'one');
      const hash = git('rev-parse', '--short', 'HEAD');
      expect(checkoutCommit(directory)).toBe(hash);
      await writeFile(join(directory, 'untracked.txt'), 'not part of the commit');
      expect(checkoutCommit(directory)).toBe(hash);
      await writeFile(join(directory, 'file.txt'), 'two');
      expect(checkoutCommit(directory)).toBe(`${hash}-dirty`);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });
});

describe('statistics', () => {
  it('uses nearest-rank percentiles, so every figure was observed', () => {
    const sorted = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(sorted, 0.5)).toBe(5);
    expect(percentile(sorted, 0.95)).toBe(10);
    expect(summarize([3, 1, 2])).toMatchObject({ n: 3, median: 2, p95: 3, min: 1, max: 3 });
  });
});

function syntheticResults({ cairnTen, dbosTen, lateOverhead }) {
  const cell = (median) => ({ status: 'ok', n: 1, median, p95: median, min: median, max: median, samples: [median] });
  return {
    meta: { mode: 'quick', date: '2026-11-22T00:00:00Z', node: 'v20', cpu: 'test', memoryGiB: 1, postgres: '15' },
    floor: { fsyncAppend: summarize([0.2]), committedInsert: summarize([0.4]) },
    systems: {
      'cairn-postgres': { storage: 'PostgreSQL', status: 'ok' },
      dbos: { storage: 'PostgreSQL', status: 'ok' },
    },
    workloads: [
      { id: 'sequential-0', group: 'Step counts', title: 'none', op: 'sequential', params: { steps: 0 } },
      { id: 'sequential-10', group: 'Step counts', title: 'ten', op: 'sequential', params: { steps: 10 } },
      { id: 'sequential-50', group: 'Step counts', title: 'fifty', op: 'sequential', params: { steps: 50 } },
    ],
    results: {
      'sequential-0': { 'cairn-postgres': cell(5), dbos: cell(2) },
      'sequential-10': { 'cairn-postgres': cell(cairnTen), dbos: cell(dbosTen) },
      'sequential-50': { 'cairn-postgres': cell(5 + 50 * 1), dbos: cell(60) },
    },
    stepIndex: {
      'cairn-postgres': {
        status: 'ok',
        runs: 1,
        steps: 1000,
        overheadByIndex: Array.from({ length: 999 }, (_, index) => (index >= 979 ? lateOverhead : 1)),
      },
    },
    commits: { 'cairn-postgres': { status: 'ok', perStep: 1, perEmptyRun: 4, walBytesPerStep: 900 } },
  };
}

describe('analysis', () => {
  it('marks each target MET or MISSED from the measured values', () => {
    const met = analyse(syntheticResults({ cairnTen: 10, dbosTen: 40, lateOverhead: 1.1 }), systems);
    expect(met.targets.map((target) => target.status)).toEqual([
      'MET',
      'MET',
      'NOT MEASURED',
      'MET',
      'NOT MEASURED',
      // The empty workflow takes 5 ms against DBOS's 2.
      'MISSED',
      'NOT MEASURED',
      'NOT MEASURED',
      'MET',
      'NOT MEASURED',
    ]);
    const missed = analyse(syntheticResults({ cairnTen: 30, dbosTen: 40, lateOverhead: 2 }), systems);
    expect(missed.targets[0]).toMatchObject({ status: 'MISSED', value: 0.75 });
    expect(missed.targets[3]).toMatchObject({ status: 'MISSED', value: 2 });
    // (55 - 5) / 50 = 1 ms per step against a 0.4 ms INSERT.
    expect(missed.costPerStep['cairn-postgres'].multipleOfFloor).toBeCloseTo(2.5);
    expect(missed.ratios['sequential-10'].dbos).toEqual({ cairn: 'cairn-postgres', ratio: 0.75 });
  });

  it('judges every workload, the throughput rates and the WAL against DBOS', () => {
    const results = syntheticResults({ cairnTen: 10, dbosTen: 40, lateOverhead: 1.1 });
    const cell = (median) => ({ status: 'ok', n: 1, median, p95: median, min: median, max: median, samples: [median] });
    results.results['sequential-0'].dbos = cell(10);
    for (const [workflows, cairn, dbos] of [
      [50, 20, 50],
      [500, 400, 600],
    ]) {
      const id = `throughput-${workflows}`;
      results.workloads.push({ id, group: 'Throughput', title: id, op: 'many', params: { workflows } });
      results.results[id] = { 'cairn-postgres': cell(cairn), dbos: cell(dbos) };
    }
    results.commits.dbos = { status: 'ok', perStep: 1, perEmptyRun: 2, walBytesPerStep: 300 };
    results.analysis = analyse(results, systems);
    const byName = (start) => results.analysis.targets.find((target) => target.target.startsWith(start));
    // 55 ms against 60 for fifty steps is the slowest; 400 against 600 comes second.
    expect(byName('Every workload')).toMatchObject({ status: 'MET', detail: 'slowest of 5 workloads: sequential-50' });
    expect(byName('Every workload').value).toBeCloseTo(55 / 60);
    expect(byName('50 concurrent')).toMatchObject({ status: 'MET', value: 2.5, atLeast: true });
    expect(byName('50 concurrent').detail).toBe('cairn-postgres 2500 vs dbos 1000 runs/s (medians)');
    expect(byName('500 concurrent')).toMatchObject({ status: 'MISSED', value: 1.5 });
    expect(byName('At most 1 WAL commit')).toMatchObject({ status: 'MET', value: 1 });
    expect(byName('WAL bytes')).toMatchObject({ status: 'MISSED', value: 3 });
    const markdown = renderMarkdown(results, systems);
    expect(markdown).toContain(
      '| 500 concurrent workflows at least 2× DBOS’s runs per second | 1.50× | ≥ 2× | **MISSED** |',
    );
  });

  it('never prints a missed value rounded onto its limit: 1.004 commits a step reads 1.004×, not 1.00×', () => {
    const round = (perStep) => {
      const { floor, results, stepIndex, commits } = syntheticResults({ cairnTen: 10, dbosTen: 40, lateOverhead: 1.1 });
      return { floor, results, stepIndex, commits: { 'cairn-postgres': { ...commits['cairn-postgres'], perStep } } };
    };
    const rounds = [round(0.996), round(1.004), round(1)];
    const base = syntheticResults({ cairnTen: 1, dbosTen: 1, lateOverhead: 1.1 });
    const results = { ...base, meta: { ...base.meta, rounds: 3 }, rounds, ...poolRounds(rounds) };
    results.analysis = analyse(results, systems);
    const commits = results.analysis.targets.find((target) => target.target.startsWith('At most 1 WAL commit'));
    expect(commits.detail).toContain('(0.996×, 1.004×, 1.00×)');
    const markdown = renderMarkdown(results, systems);
    expect(markdown).toContain('| 1.004× MISSED |');
    expect(markdown).not.toContain('1.00× MISSED');
    // One that rounds onto its limit from the met side shows its third decimal too.
    expect(markdown).toContain('| 0.996× MET |');
  });

  it("divides a system's cost per step by the floor sampled alongside its 0- and 50-step cells", () => {
    const results = syntheticResults({ cairnTen: 30, dbosTen: 40, lateOverhead: 2 });
    const alongside = (samples) => ({ kind: 'committedInsert', ...summarize(samples), samples });
    // The round's floor says 0.4 ms; while cairn-postgres's cells ran, an INSERT took 0.5 ms.
    results.results['sequential-0']['cairn-postgres'].floorAlongside = alongside([0.5, 0.5]);
    results.results['sequential-50']['cairn-postgres'].floorAlongside = alongside([0.45, 0.55, 0.5]);
    results.analysis = analyse(results, systems);
    const cost = results.analysis.costPerStep['cairn-postgres'];
    expect(cost).toMatchObject({ floor: 'committed INSERT, sampled alongside', floorMs: 0.5 });
    expect(cost.multipleOfFloor).toBeCloseTo(2);
    expect(results.analysis.targets[1]).toMatchObject({ status: 'MET', value: cost.multipleOfFloor });
    expect(results.analysis.targets[1].detail).toContain('vs 0.50 ms per committed INSERT, sampled alongside');
    // dbos had none: the round's floor.
    expect(results.analysis.costPerStep.dbos).toMatchObject({ floor: 'committed INSERT', floorMs: 0.4 });
    const markdown = renderMarkdown(results, systems);
    expect(markdown).toContain('| cairn-postgres | 1.00 | committed INSERT, sampled alongside: 0.50 | 2.00× |');
  });

  it('says how many step-index workflows each system ran', () => {
    const results = syntheticResults({ cairnTen: 10, dbosTen: 40, lateOverhead: 1.1 });
    results.stepIndex['cairn-postgres'].runs = 9;
    results.analysis = analyse(results, systems);
    expect(renderMarkdown(results, systems)).toContain('Each system ran 9 workflows of 1,000 sequential no-op steps');
    results.stepIndex['cairn-postgres'].runs = 1;
    expect(renderMarkdown(results, systems)).toContain('Each system ran 1 workflow of 1,000');
  });

  it('renders every system, ratio and verdict into the report and the chart', () => {
    const results = syntheticResults({ cairnTen: 30, dbosTen: 40, lateOverhead: 2 });
    results.analysis = analyse(results, systems);
    const markdown = renderMarkdown(results, systems);
    expect(markdown).toContain('| ten | 30.0 (30.0) | 40.0 (40.0) |');
    expect(markdown).toContain('**MISSED**');
    expect(markdown).toContain('0.75×');
    const svg = renderStepOverheadChart(results);
    expect(svg).toContain('<polyline');
    expect(svg).toContain('cairn-postgres');
  });

  it('says in its introduction that the server was settled before each system, and when it gave up', () => {
    const results = syntheticResults({ cairnTen: 30, dbosTen: 40, lateOverhead: 2 });
    results.analysis = analyse(results, systems);
    expect(renderMarkdown(results, systems)).not.toContain('settled');
    const entry = (system, ms, unsettled) => ({
      round: 1,
      system,
      ms,
      vacuumMs: ms - 10,
      waitMs: 5,
      checkpointMs: 5,
      unsettled,
    });
    results.settling = [entry('cairn-postgres', 400), entry('dbos', 600, '1 autovacuum worker still busy after 60 s')];
    const markdown = renderMarkdown(results, systems);
    expect(markdown).toContain('Before each system, the shared server was settled');
    expect(markdown).toContain('(400 ms median, 600 ms at most; `settling` in latest.json)');
    expect(markdown).toContain(
      'It gave up waiting once: before dbos in round 1, 1 autovacuum worker still busy after 60 s.',
    );
  });

  it('writes latest.json with arrays of numbers on one line and fractions to 6 decimals', () => {
    const text = resultsJson({ cell: { samples: [1.23456789, 2, -0.5], label: 'x' }, names: ['a', 'b'] });
    expect(text).toContain('"samples": [1.234568, 2, -0.5]');
    expect(text).toContain('"names": [\n');
    expect(JSON.parse(text)).toEqual({ cell: { samples: [1.234568, 2, -0.5], label: 'x' }, names: ['a', 'b'] });
  });

  it('reports runs per second and CPU per run for the throughput workloads', () => {
    const results = syntheticResults({ cairnTen: 30, dbosTen: 40, lateOverhead: 2 });
    const cell = (median, cpu) => ({ status: 'ok', n: 1, median, p95: median, min: median, max: median, cpu });
    results.workloads.push({
      id: 'throughput-50',
      group: 'Throughput',
      title: 'fifty at once',
      op: 'many',
      params: { workflows: 50 },
    });
    results.results['throughput-50'] = {
      'cairn-postgres': cell(100, { driverMsPerRun: 1.5, postgresMsPerRun: 1.25 }),
      dbos: {
        ...cell(200, { driverMsPerRun: 3, postgresMsPerRun: 2.5 }),
        warmedUp: { runs: 2000, ms: 20000, runsPerSecond: 100 },
      },
    };
    results.analysis = analyse(results, systems);
    const markdown = renderMarkdown(results, systems);
    expect(markdown).toContain(
      '| fifty at once | 100 (100)<br>500 runs/s<br>CPU/run 1.50 + 1.25 PG | 200 (200)<br>250 runs/s<br>CPU/run 3.00 + 2.50 PG<br>after 2000 warm-up runs at 100 runs/s |',
    );
    expect(markdown).toContain('CPU/run: milliseconds of CPU per workflow');
  });

  it('shows a warm-up pooled over rounds as a whole number of runs', () => {
    const results = syntheticResults({ cairnTen: 30, dbosTen: 40, lateOverhead: 2 });
    const cell = { status: 'ok', n: 1, median: 200, p95: 200, min: 200, max: 200 };
    results.workloads.push({ id: 'throughput-50', group: 'Throughput', title: 'fifty', op: 'many', params: {} });
    // Three rounds that warmed up with 900, 933 and 967 runs pool to an average of 933.33...
    results.results['throughput-50'] = {
      dbos: { ...cell, warmedUp: { runs: 2800 / 3, ms: 20000, runsPerSecond: 46.7 } },
    };
    results.analysis = analyse(results, systems);
    const markdown = renderMarkdown(results, systems);
    expect(markdown).toContain('after 933 warm-up runs at 47 runs/s');
  });
});

describe('warming a driver up', () => {
  /** A clock that moves only when a call advances it, so the budget is tested without waiting. */
  const steppedClock = () => {
    let now = 0;
    return { now: () => now, advance: (ms) => (now += ms) };
  };

  it('stops after the planned number of runs, and reports the median of the last ten', async () => {
    const clock = steppedClock();
    let calls = 0;
    const warmed = await warmUp(
      async () => {
        calls += 1;
        clock.advance(2);
        return calls <= 10 ? 50 : calls; // slow at first, then runs of 11 to 20 ms
      },
      { runs: 20, budgetMs: 60_000 },
      { now: clock.now },
    );
    expect(calls).toBe(20);
    expect(warmed).toEqual({ runs: 20, ms: 40, lastTenMedianMs: 16 });
  });

  it('stops once the budget has passed, however few runs that left', async () => {
    const clock = steppedClock();
    const warmed = await warmUp(async () => clock.advance(400), { runs: 300, budgetMs: 1000 }, { now: clock.now });
    expect(warmed.runs).toBe(3);
    expect(warmed.ms).toBe(1200);
  });

  it('makes one run even when the budget is already spent, and leaves out a median it has no times for', async () => {
    const clock = steppedClock();
    const warmed = await warmUp(
      async () => void clock.advance(5000),
      { runs: 300, budgetMs: 1000 },
      { now: clock.now },
    );
    expect(warmed).toEqual({ runs: 1, ms: 5000 });
  });

  it('counts the runs each call makes, for bursts of workflows', async () => {
    const clock = steppedClock();
    let calls = 0;
    const warmed = await warmUp(
      async () => {
        calls += 1;
        clock.advance(10);
      },
      { runs: 120, budgetMs: 60_000 },
      { runsPerCall: 50, now: clock.now },
    );
    expect(calls).toBe(3);
    expect(warmed).toEqual({ runs: 150, ms: 30 });
  });

  it('plans a few hundred runs, bounded in time, for every driver and both sides of paired blocks', () => {
    expect(driverWarmUp.runs).toBeGreaterThanOrEqual(300);
    expect(driverWarmUp.budgetMs).toBeLessThanOrEqual(15_000);
  });
});

describe('paired blocks', () => {
  it('alternates the sides in ABBA order, after the same warm-up for both', async () => {
    expect([0, 1, 2, 3, 4, 5, 6, 7].map(firstInBlock)).toEqual([
      'subject',
      'reference',
      'reference',
      'subject',
      'subject',
      'reference',
      'reference',
      'subject',
    ]);
    const calls = [];
    // The subject takes 3 ms and the reference 2 ms; the calls' order is what is checked.
    const side = (name, ms) => async () => {
      calls.push(name);
      return ms;
    };
    const measured = await measurePaired(
      { subject: side('subject', 3), reference: side('reference', 2) },
      { warmUp: { runs: 2, budgetMs: 60_000 }, blocks: 4, runsPerBlock: 3 },
    );
    expect(calls.slice(0, 4)).toEqual(['subject', 'subject', 'reference', 'reference']);
    expect(calls.slice(4).join(' ')).toBe(
      ['subject', 'reference', 'reference', 'subject', 'reference', 'subject', 'subject', 'reference']
        .flatMap((name) => [name, name, name])
        .join(' '),
    );
    expect(measured).toMatchObject({ status: 'ok', ratio: 1.5, minRatio: 1.5, maxRatio: 1.5 });
    expect(measured.blocks.map((block) => block.first)).toEqual(['subject', 'reference', 'reference', 'subject']);
    expect(measured.warmedUp.subject).toMatchObject({ runs: 2, lastTenMedianMs: 3 });
    expect(measured.warmedUp.reference).toMatchObject({ runs: 2, lastTenMedianMs: 2 });
  });

  it("takes the median of the blocks' own ratios, not the ratio of pooled times", () => {
    // Blocks at 1.0×, 1.2× and 2.0×; pooling would compare 20 ms with 10 ms (2.0×).
    const summary = summarisePaired([
      { first: 'subject', subjectMs: 10, referenceMs: 10 },
      { first: 'reference', subjectMs: 12, referenceMs: 10 },
      { first: 'reference', subjectMs: 40, referenceMs: 20 },
    ]);
    expect(summary).toMatchObject({ ratio: 1.2, minRatio: 1, maxRatio: 2, subjectMs: 12, referenceMs: 10 });
  });

  it('measures the sequential cells closest to DBOS warm as well, each kept under its own key', () => {
    const everyWorkload = pairedComparisons.filter((comparison) => comparison.limit === 1);
    expect(everyWorkload.map((comparison) => comparison.workload.id)).toEqual([
      'sequential-25',
      'sequential-50',
      'sequential-10kb-10',
    ]);
    for (const comparison of everyWorkload) {
      expect(comparison).toMatchObject({ subject: 'cairn-postgres', reference: 'dbos' });
      expect(comparison.target).toContain('in paired blocks');
    }
    const keys = pairedComparisons.map(pairedKey);
    expect(new Set(keys).size).toBe(keys.length);
    // The first two keep the keys earlier results files use.
    expect(keys.slice(0, 2)).toEqual(['cairn-postgres/dbos', 'cairn-http/cairn-postgres']);

    const base = syntheticResults({ cairnTen: 30, dbosTen: 40, lateOverhead: 1 });
    const results = { ...base };
    results.paired = {
      [pairedKey(everyWorkload[2])]: summarisePaired([
        { first: 'subject', subjectMs: 11, referenceMs: 10 },
        { first: 'reference', subjectMs: 12, referenceMs: 10 },
        { first: 'reference', subjectMs: 9, referenceMs: 10 },
      ]),
    };
    results.analysis = analyse(results, systems);
    const measured = results.analysis.targets.filter((target) => target.target.endsWith('in paired blocks'));
    expect(measured).toHaveLength(1);
    expect(measured[0]).toMatchObject({ target: everyWorkload[2].target, status: 'MISSED', limit: 1 });
    expect(measured[0].value).toBeCloseTo(1.1);
    expect(renderMarkdown(results, systems)).toContain(
      '**cairn-postgres ÷ dbos, 10 sequential steps, 10 KB payloads**: 1.10×',
    );
  });

  it('adds a verdict per measured pair after the rounds’ targets, and a table of its blocks', () => {
    const rounds = [1, 2, 3].map(() => {
      const { floor, results, stepIndex, commits } = syntheticResults({ cairnTen: 30, dbosTen: 40, lateOverhead: 1 });
      return { floor, results, stepIndex, commits };
    });
    const base = syntheticResults({ cairnTen: 30, dbosTen: 40, lateOverhead: 1 });
    const results = { ...base, meta: { ...base.meta, rounds: 3 }, rounds, ...poolRounds(rounds) };
    results.paired = {
      'cairn-postgres/dbos': summarisePaired([
        { first: 'subject', subjectMs: 16, referenceMs: 40 },
        { first: 'reference', subjectMs: 20, referenceMs: 40 },
        { first: 'reference', subjectMs: 18, referenceMs: 40 },
      ]),
      'cairn-http/cairn-postgres': { status: 'failed', reason: 'timed out after 120 s' },
    };
    results.analysis = analyse(results, systems);
    const paired = results.analysis.targets.filter((target) => target.target.endsWith('in paired blocks'));
    expect(paired).toHaveLength(2);
    expect(paired[0]).toMatchObject({ status: 'MET', limit: 0.5 });
    expect(paired[0].value).toBeCloseTo(0.45);
    expect(paired[1]).toMatchObject({ status: 'NOT MEASURED', detail: 'failed: timed out after 120 s' });
    const markdown = renderMarkdown(results, systems);
    expect(markdown).toContain('## Paired blocks');
    expect(markdown).toContain('| 2 | reference | 20.0 | 40.0 | 0.50× |');
    // The per-round table lists only the targets measured in every round.
    const roundTable = markdown.slice(markdown.indexOf('Each round’s value'), markdown.indexOf('# Cairn benchmark'));
    expect(roundTable).not.toContain('paired blocks');
  });
});

describe('rounds', () => {
  it('measures the systems in reverse order every other round, so none always comes last', () => {
    const names = (number) => roundOrder(systems, number).map((system) => system.name);
    const listed = systems.map((system) => system.name);
    expect(names(1)).toEqual(listed);
    expect(names(2)).toEqual([...listed].reverse());
    expect(names(3)).toEqual(listed);
    // The caller's list is left as it was.
    expect(systems.map((system) => system.name)).toEqual(listed);
  });

  const roundOf = (cairnTen, dbosTen) => {
    const { floor, results, stepIndex, commits } = syntheticResults({ cairnTen, dbosTen, lateOverhead: 1.1 });
    return { floor, results, stepIndex, commits };
  };

  it("takes each ratio and verdict within a round and reports the median of the rounds' values", () => {
    // Per round: 0.33, 0.45 and 1.5. Pooling the samples first would compare cairn's 50 ms
    // with dbos's 40 ms (1.25×, missed), a pairing no round measured.
    const rounds = [roundOf(10, 30), roundOf(50, 110), roundOf(60, 40)];
    const base = syntheticResults({ cairnTen: 1, dbosTen: 1, lateOverhead: 1.1 });
    const results = { ...base, meta: { ...base.meta, rounds: 3 }, rounds, ...poolRounds(rounds) };
    results.analysis = analyse(results, systems);
    expect(results.results['sequential-10']['cairn-postgres']).toMatchObject({ n: 3, median: 50 });
    expect(results.analysis.targets[0].status).toBe('MET');
    expect(results.analysis.targets[0].value).toBeCloseTo(50 / 110);
    expect(results.analysis.ratios['sequential-10'].dbos.ratio).toBeCloseTo(50 / 110);
    expect(results.analysis.rounds.map((round) => round.targets[0].status)).toEqual(['MET', 'MET', 'MISSED']);
    const markdown = renderMarkdown(results, systems);
    expect(markdown).toContain('quick mode, 3 rounds');
    expect(markdown).toContain('| Target | Round 1 | Round 2 | Round 3 |');
    expect(markdown).toContain('1.50× MISSED');
  });

  it('warms a throughput cell up by runs or by time, whichever ends first, and nothing else', () => {
    const fifty = workloads.find((workload) => workload.id === 'throughput-50');
    const tenSteps = workloads.find((workload) => workload.id === 'sequential-10');
    for (const full of [false, true]) {
      expect(repetitionsFor(fifty, full).warmUp).toEqual(throughputWarmUp);
      expect(repetitionsFor(tenSteps, full).warmUp).toBeUndefined();
    }
    expect(throughputWarmUp.runs).toBeGreaterThanOrEqual(5000);
  });

  it('pools samples, averages CPU per run, and lets a failed round fail the cell', () => {
    const cell = (samples, cpu) => ({ status: 'ok', ...summarize(samples), samples, cpu });
    const round = (entry) => ({
      floor: { fsyncAppend: summarize([0.2]), committedInsert: summarize([0.4]) },
      results: { work: { system: entry } },
      stepIndex: {},
      commits: {},
    });
    const pooled = poolRounds([
      round(cell([1, 2], { driverMsPerRun: 1, postgresMsPerRun: 2 })),
      round(cell([3], { driverMsPerRun: 3, postgresMsPerRun: 4 })),
    ]);
    expect(pooled.results.work.system).toMatchObject({ status: 'ok', n: 3, median: 2, samples: [1, 2, 3] });
    const withFloor = (samples, floorSamples) => ({
      ...cell(samples, undefined),
      floorAlongside: { kind: 'fsyncAppend', ...summarize(floorSamples), samples: floorSamples },
    });
    const floors = poolRounds([round(withFloor([1], [0.1, 0.2])), round(withFloor([2], [0.3]))]);
    expect(floors.results.work.system.floorAlongside).toMatchObject({
      kind: 'fsyncAppend',
      n: 3,
      median: 0.2,
      samples: [0.1, 0.2, 0.3],
    });
    expect(pooled.results.work.system.cpu).toEqual({ driverMsPerRun: 2, postgresMsPerRun: 3 });
    const warmed = (warmedUp) => ({ ...cell([1], undefined), warmedUp });
    const warmUps = poolRounds([
      round(warmed({ runs: 5000, ms: 5000, runsPerSecond: 1000 })),
      round(warmed({ runs: 3000, ms: 15000, runsPerSecond: 200 })),
    ]);
    expect(warmUps.results.work.system.warmedUp).toEqual({ runs: 4000, ms: 10000, runsPerSecond: 400 });
    const failed = poolRounds([
      round(cell([1], undefined)),
      round({ status: 'failed', reason: 'timed out after 600 s' }),
    ]);
    expect(failed.results.work.system).toEqual({ status: 'failed', reason: 'timed out after 600 s' });
  });
});

describe('CPU accounting from /proc', () => {
  it('counts a process tree, children included', async () => {
    const { spawn } = await import('node:child_process');
    const before = treeCpuMs(process.pid);
    // A child that burns 300 ms of its own CPU, then idles until it is killed. Counting its
    // CPU rather than the clock: on a loaded machine 300 ms of wall time can hold far less.
    const child = spawn(process.execPath, [
      '-e',
      'const used = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; }; while (used() < 300); setInterval(() => {}, 1000)',
    ]);
    try {
      const deadline = Date.now() + 10_000;
      while (treeCpuMs(child.pid) < 200 && Date.now() < deadline) await new Promise((resolve) => setImmediate(resolve));
      expect(treeCpuMs(child.pid), 'the child’s own burn').toBeGreaterThanOrEqual(200);
      expect(treeCpuMs(process.pid) - before, 'the tree holds the child’s burn').toBeGreaterThanOrEqual(200);
    } finally {
      child.kill();
    }
  });
});

describe('counting durable commits in the WAL', () => {
  it('counts transactions that wrote, and not reads', async () => {
    const server = await startPostgres('walprobe');
    const client = new pg.Client({ connectionString: server.connectionString });
    await client.connect();
    const probe = await openWalProbe(server.connectionString);
    try {
      await client.query('CREATE TABLE items (id serial PRIMARY KEY)');
      const start = await probe.position();
      for (let index = 0; index < 3; index++) await client.query('INSERT INTO items DEFAULT VALUES');
      for (let index = 0; index < 5; index++) await client.query('SELECT count(*) FROM items');
      const { commits, walBytes } = await probe.since(start);
      // Three writes; the five reads leave no COMMIT record. One extra is allowed for a
      // background writer (autovacuum) that happens to commit inside the window.
      expect(commits).toBeGreaterThanOrEqual(3);
      expect(commits).toBeLessThanOrEqual(4);
      expect(walBytes).toBeGreaterThan(0);
    } finally {
      await probe.close();
      await client.end();
      await server.stop();
    }
  });

  it('counts only the commits of transactions that wrote a table of the measured database', async () => {
    const server = await startPostgres('walscope');
    const admin = new pg.Client({ connectionString: server.connectionString });
    await admin.connect();
    await recreateDatabase(admin, 'measured');
    await recreateDatabase(admin, 'elsewhere');
    const measured = new pg.Client({ connectionString: databaseUrl(server.connectionString, 'measured') });
    const elsewhere = new pg.Client({ connectionString: databaseUrl(server.connectionString, 'elsewhere') });
    await measured.connect();
    await elsewhere.connect();
    const probe = await openWalProbe(server.connectionString);
    try {
      for (const client of [measured, elsewhere]) await client.query('CREATE TABLE items (id serial PRIMARY KEY)');
      const start = await probe.position();
      for (let index = 0; index < 3; index++) await measured.query('INSERT INTO items DEFAULT VALUES');
      // A write inside a savepoint is logged under the subtransaction's id, not the commit's.
      await measured.query(
        'BEGIN; SAVEPOINT inner_write; INSERT INTO items DEFAULT VALUES; RELEASE inner_write; COMMIT',
      );
      // Another database's writes, and statistics written to the measured one's catalog (what
      // autovacuum's ANALYZE does behind a system's back), each commit too.
      for (let index = 0; index < 2; index++) await elsewhere.query('INSERT INTO items DEFAULT VALUES');
      await measured.query('ANALYZE items');
      const counted = await probe.since(start, { database: 'measured' });
      expect(counted.commits).toBe(4);
      expect(counted.allCommits).toBeGreaterThanOrEqual(7);
    } finally {
      await probe.close();
      await Promise.all([measured.end(), elsewhere.end(), admin.end()]);
      await server.stop();
    }
  });

  it('measures the same bytes for the same work when each window starts from a checkpoint', async () => {
    const server = await startPostgres('walcheckpoint');
    const client = new pg.Client({ connectionString: server.connectionString });
    await client.connect();
    const probe = await openWalProbe(server.connectionString);
    const window = async ({ checkpoint }) => {
      if (checkpoint) await probe.checkpoint();
      const start = await probe.position();
      await client.query('UPDATE items SET touched = touched + 1');
      return (await probe.since(start)).walBytes;
    };
    try {
      // Wide rows with room beside them: each update stays on its page and logs a few bytes,
      // so a page's full image, when one is logged, dwarfs the page's updates.
      await client.query(
        'CREATE TABLE items (id int PRIMARY KEY, touched int NOT NULL DEFAULT 0, filler text) WITH (fillfactor = 50)',
      );
      await client.query(
        `INSERT INTO items (id, filler) SELECT n, repeat('x', 400) FROM generate_series(1, 2000) AS n`,
      );
      const first = await window({ checkpoint: true });
      const straightAfter = await window({ checkpoint: false });
      const again = await window({ checkpoint: true });
      // Without the checkpoint the same update logs no full-page images and far fewer
      // bytes: the number depends on history. With it, the two windows agree.
      expect(straightAfter).toBeLessThan(first * 0.5);
      expect(Math.abs(again - first)).toBeLessThan(first * 0.1);
    } finally {
      await probe.close();
      await client.end();
      await server.stop();
    }
  });
});

describe('the driver protocol, with Cairn on world-local', () => {
  const directories = [];
  afterAll(() => Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true }))));

  it('runs operations, checks their values and reports unsupported ones', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'cairn-bench-test-'));
    directories.push(dataDir);
    const driver = await startDriver({
      directory: new URL('../src/cairn', import.meta.url).pathname,
      options: { dataDir, variant: 'local' },
    });
    try {
      expect(driver.ready.system).toBe('cairn-local');
      const sequential = await driver.call('sequential', { steps: 5, payloadBytes: 100 });
      expect(sequential).toMatchObject({ ok: true, value: 5 });
      expect(sequential.elapsedMs).toBeGreaterThan(0);
      expect(await driver.call('concurrent', { steps: 8, payloadBytes: 0, mode: 'all' })).toMatchObject({ value: 8 });
      const stamps = await driver.call('stepTimestamps', { steps: 20 });
      expect(stamps.value.timestamps).toHaveLength(20);
      expect([...stamps.value.timestamps].sort((left, right) => left - right)).toEqual(stamps.value.timestamps);
      expect(await driver.call('noSuchOperation', {})).toMatchObject({ ok: false, unsupported: true });
    } finally {
      await driver.close();
    }
  });
});
