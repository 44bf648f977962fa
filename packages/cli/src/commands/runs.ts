import { findWaitingChildren } from '@cairn/core';
import { type Run, runStatuses } from '@cairn/core/world';
import { type Command, Option } from 'commander';
import { type CommandContext, parseSince, positiveInteger, withWorld } from '../context.js';
import {
  type Column,
  formatDuration,
  formatJson,
  formatRecord,
  formatTable,
  formatTime,
  formatValue,
} from '../output.js';

const runColumns: Column<Run>[] = [
  { header: 'RUN ID', value: (run) => run.runId },
  { header: 'WORKFLOW', value: (run) => run.workflowName },
  { header: 'STATUS', value: (run) => run.status },
  { header: 'CREATED', value: (run) => formatTime(run.createdAt) },
  { header: 'DURATION', value: (run) => formatDuration((run.completedAt ?? Date.now()) - run.createdAt) },
];

interface ListOptions {
  status?: Run['status'];
  workflow?: string;
  since?: string;
  limit: number;
  json?: boolean;
}

/** Newest first, paging the World until `limit` runs are found or the runs get older than `since`. */
export async function listRuns(
  list: (options: { cursor?: string; limit: number; status?: Run['status']; workflowName?: string }) => Promise<{
    data: Run[];
    cursor: string | null;
  }>,
  options: { status?: Run['status']; workflowName?: string; sinceMs?: number; limit: number },
): Promise<Run[]> {
  const runs: Run[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await list({
      limit: Math.min(1000, options.limit - runs.length),
      ...(cursor ? { cursor } : {}),
      ...(options.status ? { status: options.status } : {}),
      ...(options.workflowName ? { workflowName: options.workflowName } : {}),
    });
    for (const run of page.data) {
      // Newest first: once one run is older than `since`, every later one is too.
      if (options.sinceMs !== undefined && run.createdAt < options.sinceMs) return runs;
      runs.push(run);
      if (runs.length >= options.limit) return runs;
    }
    if (page.cursor === null) return runs;
    cursor = page.cursor;
  }
}

export function registerRuns(program: Command, { output }: CommandContext): void {
  const runs = program.command('runs').description('list runs and show one run');

  runs
    .command('list')
    .description('list runs, newest first')
    .addOption(new Option('--status <status>', 'only runs with this status').choices(runStatuses))
    .option('--workflow <name>', 'only runs of this workflow')
    .option('--since <time>', 'only runs created since an ISO time or a duration ago (15m, 2h, 7d)')
    .option('--limit <n>', 'at most this many runs', positiveInteger('--limit'), 100)
    .option('--json', 'print JSON instead of a table')
    .action(async (options: ListOptions, command: Command) => {
      const sinceMs = options.since === undefined ? undefined : parseSince(options.since);
      const found = await withWorld(command, { readOnly: true }, (world) =>
        listRuns((page) => world.runs.list(page), {
          limit: options.limit,
          ...(options.status ? { status: options.status } : {}),
          ...(options.workflow ? { workflowName: options.workflow } : {}),
          ...(sinceMs !== undefined ? { sinceMs } : {}),
        }),
      );
      output.out.write(options.json ? formatJson(found) : formatTable(found, runColumns));
    });

  runs
    .command('get')
    .description('show one run')
    .argument('<runId>', 'the run')
    .option('--json', 'print JSON instead of a table')
    .action(async (runId: string, options: { json?: boolean }, command: Command) => {
      const { run, waitingChildren } = await withWorld(command, { readOnly: true }, async (world) => {
        const found = await world.runs.get(runId);
        // A running parent stuck on a child says so through the child: the join is done here,
        // only for the table, so --json stays exactly the World's view of the run.
        const children = options.json || found.status !== 'running' ? [] : await findWaitingChildren(world, runId);
        return { run: found, waitingChildren: children };
      });
      if (options.json) {
        output.out.write(formatJson(run));
        return;
      }
      const fields: [string, string][] = [
        ['run', run.runId],
        ['workflow', run.workflowName],
        ['status', run.status],
        ['created', formatTime(run.createdAt)],
        ['started', formatTime(run.startedAt)],
        ['ended', formatTime(run.completedAt)],
        ['duration', formatDuration((run.completedAt ?? Date.now()) - run.createdAt)],
        ['events', String(run.lastSeq)],
        ['input', formatValue(run.input)],
      ];
      if (run.parentRunId) fields.push(['parent', run.parentRunId]);
      if (run.output !== undefined) fields.push(['output', formatValue(run.output)]);
      if (run.error) fields.push(['error', `${run.error.name}: ${run.error.message}`]);
      if (run.cancelReason) fields.push(['cancel reason', run.cancelReason]);
      if (run.waiting) fields.push(['waiting', `${run.waiting.message} (since ${formatTime(run.waiting.since)})`]);
      for (const child of waitingChildren) {
        fields.push(['waiting on', `child run ${child.runId} (${child.workflowName}): ${child.waiting.message}`]);
      }
      output.out.write(formatRecord(fields));
    });
}
