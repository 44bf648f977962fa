// latest.md: the results as tables a reader can scan, derived from latest.json alone; and
// latest.json's own text.

import { pairedLabel } from './paired.mjs';
import { renderScale } from './scale/report.mjs';
import { ratioText, summarize } from './statistics.mjs';
import { driverWarmUp } from './warm-up.mjs';

/**
 * latest.json's text: indented, but each array of numbers (samples, per-step overheads) on
 * one line, and fractions to 6 decimals (a nanosecond of a time), which keeps a run of several
 * rounds a fraction of the size.
 */
export function resultsJson(results) {
  const rounded = (_, value) =>
    typeof value === 'number' && !Number.isInteger(value) ? Math.round(value * 1e6) / 1e6 : value;
  return JSON.stringify(results, rounded, 2).replace(
    /\[\s+(-?[\d.e+-]+(?:,\s+-?[\d.e+-]+)*)\s+\]/g,
    (_, numbers) => `[${numbers.split(/,\s+/).join(', ')}]`,
  );
}

const ms = (value) =>
  value === undefined || value === null || Number.isNaN(value)
    ? '–'
    : value >= 100
      ? value.toFixed(0)
      : value >= 10
        ? value.toFixed(1)
        : value.toFixed(2);
const times = (value, limit) => ratioText(value, limit);

function cellText(cell, workload) {
  if (!cell) return '–';
  if (cell.status === 'unsupported') return 'n/a';
  if (cell.status !== 'ok') return cell.status;
  let text = `${ms(cell.median)} (${ms(cell.p95)})`;
  if (workload.op === 'many') text += `<br>${((workload.params.workflows / cell.median) * 1000).toFixed(0)} runs/s`;
  if (cell.cpu !== undefined) {
    const { driverMsPerRun, postgresMsPerRun } = cell.cpu;
    text += `<br>CPU/run ${ms(driverMsPerRun)}${postgresMsPerRun === undefined ? '' : ` + ${ms(postgresMsPerRun)} PG`}`;
  }
  if (cell.warmedUp !== undefined)
    text += `<br>after ${Math.round(cell.warmedUp.runs)} warm-up runs at ${cell.warmedUp.runsPerSecond.toFixed(0)} runs/s`;
  if (workload.op === 'streamThroughput')
    text += `<br>${(workload.params.totalBytes / 2 ** 20 / (cell.median / 1000)).toFixed(1)} MB/s`;
  return text;
}

export function renderMarkdown(results, systems, { targetsOnly = false } = {}) {
  const { meta, floor, analysis } = results;
  const lines = [];
  const present = systems.filter((system) => results.systems[system.name]);
  lines.push('## Targets', '');
  lines.push('| Target | Value | Limit | Verdict | Detail |', '|---|---|---|---|---|');
  for (const target of analysis.targets) {
    lines.push(
      `| ${target.target} | ${times(target.value, target.limit)} | ${target.atLeast ? '≥ ' : ''}${target.limit}× | **${target.status}** | ${target.detail} |`,
    );
  }
  if (analysis.rounds) {
    lines.push(
      '',
      'Each round’s value:',
      '',
      `| Target | ${analysis.rounds.map((_, index) => `Round ${index + 1}`).join(' | ')} |`,
      `|---|${analysis.rounds.map(() => '---').join('|')}|`,
      // Targets measured once (paired blocks) come after those measured in every round.
      ...analysis.targets
        .slice(0, analysis.rounds[0].targets.length)
        .map(
          (target, index) =>
            `| ${target.target} | ${analysis.rounds.map((round) => `${times(round.targets[index].value, target.limit)} ${round.targets[index].status}`).join(' | ')} |`,
        ),
    );
  }
  if (targetsOnly) return `${lines.join('\n')}\n`;

  const header = [
    '# Cairn benchmark results',
    '',
    `${meta.mode} mode${meta.rounds > 1 ? `, ${meta.rounds} rounds` : ''}, ${meta.date}, ${meta.durationSeconds} s. Node ${meta.node}, ${meta.cpu}, ${meta.memoryGiB} GiB, PostgreSQL ${meta.postgres} on loopback (fsync on).` +
      (meta.commit ? ` Cairn at ${meta.commit}.` : ''),
    '',
    'Every system ran in its own process, one system at a time, against the same PostgreSQL server (each in its own database). ' +
      'Times are milliseconds from starting a workflow to holding its result, as median (p95); lower is better. ' +
      'Reproduce with `npm run bench` (quick) or `BENCH_FULL=1 npm run bench` (see benchmarks/README.md).' +
      (meta.rounds > 1
        ? ` Each system was measured once per round, in turn (in reverse order in even rounds), ${meta.rounds} rounds in all: the tables pool every round's samples, ` +
          "and each ratio, cost per step and target value is the median of the rounds' own values, each taken within one round."
        : '') +
      settlingText(results.settling) +
      warmUpText(results.warmUps),
    '',
    '## Systems',
    '',
    '| System | Version | Storage | Status |',
    '|---|---|---|---|',
    ...present.map((system) => {
      const record = results.systems[system.name];
      return `| ${system.name} | ${record.version ?? '–'} | ${record.storage} | ${record.status}${record.reason ? `: ${record.reason}` : ''} |`;
    }),
    '',
    '## The floor',
    '',
    `- One fsync'd append on local disk: ${ms(floor.fsyncAppend?.median)} ms median, ${ms(floor.fsyncAppend?.p95)} ms p95.`,
    `- One committed INSERT on the same PostgreSQL: ${ms(floor.committedInsert?.median)} ms median, ${ms(floor.committedInsert?.p95)} ms p95.`,
    '',
  ];
  lines.unshift(...header);
  lines.push(...pairedSection(results));

  const names = present.map((system) => system.name);
  let group;
  for (const workload of results.workloads) {
    if (workload.group !== group) {
      group = workload.group;
      lines.push(
        '',
        `## ${group}`,
        '',
        `| Workload | ${names.join(' | ')} |`,
        `|---|${names.map(() => '---').join('|')}|`,
      );
    }
    const cells = names.map((name) => cellText(results.results[workload.id]?.[name], workload));
    lines.push(`| ${workload.title} | ${cells.join(' | ')} |`);
  }
  if (results.workloads.some((workload) => workload.op === 'many')) {
    lines.push(
      '',
      'CPU/run: milliseconds of CPU per workflow over the measured repetitions, used by the driver process with everything it started, and by the PostgreSQL server (PG) for the systems on it. ' +
        'On a machine whose cores both sides share, their sum bounds the runs per second.',
    );
  }

  const peers = present.filter((system) => system.comparedWith);
  lines.push(
    '',
    '## Cairn ÷ peer',
    '',
    'Cairn’s median over the peer’s, each peer against the Cairn World on the same kind of storage ' +
      `(${peers.map((peer) => `${peer.name} against ${peer.comparedWith}`).join('; ')}). Below 1 means Cairn is faster.`,
    '',
    `| Workload | ${peers.map((peer) => peer.name).join(' | ')} |`,
    `|---|${peers.map(() => '---').join('|')}|`,
  );
  for (const workload of results.workloads) {
    const cells = peers.map((peer) => times(analysis.ratios[workload.id]?.[peer.name]?.ratio));
    lines.push(`| ${workload.title} | ${cells.join(' | ')} |`);
  }

  lines.push(
    '',
    '## Step overhead against step index',
    '',
    `Each system ran ${stepIndexWorkflows(results.stepIndex)} of 1,000 sequential no-op steps, all rounds together; each step body records the time, and the overhead of step *i* is the gap since step *i−1*: ` +
      'at each index, the median across a round’s workflows, then across the rounds. Windows are medians of 20 such overheads. Chart: step-overhead.svg.',
    '',
    '| System | around step 10 (ms) | steps 981–1,000 (ms) | late ÷ early |',
    '|---|---|---|---|',
  );
  for (const name of names) {
    const entry = results.stepIndex[name];
    const windows = analysis.stepIndex[name];
    if (windows) lines.push(`| ${name} | ${ms(windows.early)} | ${ms(windows.late)} | ${times(windows.ratio)} |`);
    else if (entry) lines.push(`| ${name} | ${entry.status}${entry.reason ? `: ${entry.reason}` : ''} | | |`);
  }

  lines.push(
    '',
    '## Cost per step',
    '',
    'Marginal time per step is (50 sequential steps − no steps) ÷ 50, from the medians above. Its floor is one commit on ' +
      'the storage the system writes to, in ms: the median of 10 samples taken after each sample of those two cells ' +
      '("sampled alongside"), as the round’s floor is a moment and the disk’s speed drifts. Commits are COMMIT records in ' +
      'PostgreSQL’s WAL (pg_walinspect) over 5 runs of 50 steps minus 5 runs of none, per step: only transactions that wrote a table of the system’s own database count.',
    '',
    '| System | ms per step | floor | × floor | WAL commits per step | WAL bytes per step | commits per empty run |',
    '|---|---|---|---|---|---|---|',
  );
  for (const name of names) {
    const cost = analysis.costPerStep[name];
    const commits = results.commits[name];
    if (!cost && !commits) continue;
    const commitCells =
      commits?.status === 'ok'
        ? [commits.perStep.toFixed(2), commits.walBytesPerStep.toFixed(0), commits.perEmptyRun.toFixed(1)]
        : commits
          ? [commits.status, '–', '–']
          : ['–', '–', '–'];
    lines.push(
      `| ${name} | ${ms(cost?.marginalMs)} | ${cost ? `${cost.floor}: ${ms(cost.floorMs)}` : '–'} | ${times(cost?.multipleOfFloor)} | ${commitCells.join(' | ')} |`,
    );
  }

  if (results.scale) lines.push(...renderScale(results.scale));

  const problems = [];
  for (const workload of results.workloads) {
    for (const name of names) {
      const cell = results.results[workload.id]?.[name];
      if (cell && cell.status !== 'ok') problems.push(`- ${name}, ${workload.id}: ${cell.status} (${cell.reason})`);
    }
  }
  if (problems.length > 0) lines.push('', '## Not measured', '', ...problems);
  return `${lines.join('\n')}\n`;
}

/** How many step-index workflows each system ran, e.g. "9 workflows" (a pooled entry counts every round's). */
function stepIndexWorkflows(stepIndex) {
  const counts = [
    ...new Set(
      Object.values(stepIndex ?? {})
        .filter((entry) => entry?.status === 'ok')
        .map((entry) => entry.runs),
    ),
  ];
  if (counts.length === 0) return 'workflows';
  return `${counts.join(' or ')} workflow${counts.length === 1 && counts[0] === 1 ? '' : 's'}`;
}

/** One sentence on the drivers' warm-up before their cells (warm-up.mjs), when it was done. */
function warmUpText(warmUps) {
  if (!warmUps?.length) return '';
  const runs = summarize(warmUps.map((entry) => entry.runs));
  const cut = warmUps.filter((entry) => entry.runs < driverWarmUp.runs).map((entry) => entry.system);
  return (
    ` Before its cells, each system's fresh driver warmed up on 10-step runs until ${driverWarmUp.runs} runs or ${driverWarmUp.budgetMs / 1000} s ` +
    `(${runs.min} to ${runs.max} runs; \`warmUps\` in latest.json)` +
    (cut.length === 0 ? '.' : `; the time bound cut it short for ${[...new Set(cut)].join(', ')}.`)
  );
}

/** One sentence on the settling before each system (settle.mjs), when it was done. */
function settlingText(settling) {
  if (!settling?.length) return '';
  const durations = summarize(settling.map((entry) => entry.ms));
  const unsettled = settling.filter((entry) => entry.unsettled);
  return (
    ` Before each system${settling.some((entry) => entry.paired) ? ' and each pair of paired blocks' : ''}, the shared server was settled: ` +
    'every database vacuumed and analysed, a wait until no autovacuum worker or other query was running, then a checkpoint ' +
    `(${ms(durations.median)} ms median, ${ms(durations.max)} ms at most; \`settling\` in latest.json).` +
    (unsettled.length === 0
      ? ''
      : ` It gave up waiting ${unsettled.length === 1 ? 'once' : `${unsettled.length} times`}: ${unsettled.map((entry) => `before ${entry.system ?? entry.paired}${entry.round ? ` in round ${entry.round}` : ''}, ${entry.unsettled}`).join('; ')}.`)
  );
}

/** The paired blocks (paired.mjs), block by block, when they were measured. */
function pairedSection(results) {
  const measured = Object.entries(results.paired ?? {});
  if (measured.length === 0) return [];
  const lines = [
    '',
    '## Paired blocks',
    '',
    'After the rounds, each ratio target was measured again with both of its systems running at once, each on a database of its own, ' +
      `both given the same warm-up (runs of its workload until ${driverWarmUp.runs} or ${driverWarmUp.budgetMs / 1000} s), then alternating blocks of runs of its workload (10 sequential steps unless named; first side of each block: subject, reference, reference, subject, and again). ` +
      'A block’s ratio is its subject’s median over its reference’s; the target’s value is the median of the blocks’ ratios.',
  ];
  for (const [pair, entry] of measured) {
    lines.push('', `**${pairedLabel(pair)}**: `);
    if (entry.status !== 'ok') {
      lines[lines.length - 1] += `failed (${entry.reason}).`;
      continue;
    }
    lines[lines.length - 1] += `${times(entry.ratio)} (blocks ${times(entry.minRatio)} to ${times(entry.maxRatio)}).`;
    lines.push(
      '',
      '| Block | First | Subject ms | Reference ms | Ratio |',
      '|---|---|---|---|---|',
      ...entry.blocks.map(
        (block, index) =>
          `| ${index + 1} | ${block.first} | ${ms(block.subjectMs)} | ${ms(block.referenceMs)} | ${times(block.subjectMs / block.referenceMs)} |`,
      ),
    );
  }
  return lines;
}
