import type { Hook, Step, World, WorldEvent } from '@cairn/core/world';
import type { Command } from 'commander';
import { type CommandContext, withWorld } from '../context.js';
import { type Column, formatDuration, formatJson, formatTable, formatTime, formatValue } from '../output.js';

/** Every item of a paged view, in order. */
export async function allPages<Item>(
  list: (options: { cursor?: string; limit: number }) => Promise<{ data: Item[]; cursor: string | null }>,
): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await list({ limit: 1000, ...(cursor ? { cursor } : {}) });
    items.push(...page.data);
    if (page.cursor === null) return items;
    cursor = page.cursor;
  }
}

/** A run's whole log, in order. */
export async function allEvents(world: World, runId: string): Promise<WorldEvent[]> {
  const events: WorldEvent[] = [];
  for (let hasMore = true; hasMore; ) {
    const page = await world.events.list(runId, { afterSeq: events.length, limit: 1000 });
    events.push(...page.data);
    hasMore = page.hasMore;
  }
  return events;
}

const eventColumns: Column<WorldEvent>[] = [
  { header: 'SEQ', value: (event) => String(event.seq) },
  { header: 'TIME', value: (event) => formatTime(event.createdAt) },
  { header: 'TYPE', value: (event) => event.eventType },
  { header: 'CORRELATION', value: (event) => event.correlationId ?? '-' },
  { header: 'DATA', value: (event) => formatValue(event.eventData) },
];

const stepColumns: Column<Step>[] = [
  { header: 'STEP ID', value: (step) => step.stepId },
  { header: 'NAME', value: (step) => step.stepName },
  { header: 'STATUS', value: (step) => step.status },
  // Inline attempts record no step_started, so attempts are counted from retries and outcome.
  { header: 'ATTEMPTS', value: (step) => String(step.retries + (step.status === 'pending' ? 0 : 1)) },
  { header: 'RETRIES', value: (step) => String(step.retries) },
  { header: 'CREATED', value: (step) => formatTime(step.createdAt) },
  {
    header: 'DURATION',
    value: (step) => (step.completedAt === undefined ? '-' : formatDuration(step.completedAt - step.createdAt)),
  },
  { header: 'ERROR', value: (step) => (step.error ? `${step.error.name}: ${step.error.message}` : '-') },
];

const hookColumns: Column<Hook>[] = [
  { header: 'HOOK ID', value: (hook) => hook.hookId },
  { header: 'TOKEN', value: (hook) => hook.token },
  { header: 'STATUS', value: (hook) => hook.status },
  { header: 'RECEIVED', value: (hook) => String(hook.receivedCount) },
  { header: 'CREATED', value: (hook) => formatTime(hook.createdAt) },
];

/** `events`, `steps` and `hooks`: one run's log and views. */
export function registerInspect(program: Command, { output }: CommandContext): void {
  program
    .command('events')
    .description("print a run's event log")
    .argument('<runId>', 'the run')
    .option('--json', 'print JSON instead of a table')
    .action(async (runId: string, options: { json?: boolean }, command: Command) => {
      const events = await withWorld(command, { readOnly: true }, (world) => allEvents(world, runId));
      output.out.write(options.json ? formatJson(events) : formatTable(events, eventColumns));
    });

  program
    .command('steps')
    .description("list a run's steps with attempts, retries and outcomes")
    .argument('<runId>', 'the run')
    .option('--json', 'print JSON instead of a table')
    .action(async (runId: string, options: { json?: boolean }, command: Command) => {
      const steps = await withWorld(command, { readOnly: true }, (world) =>
        allPages((page) => world.steps.list(runId, page)),
      );
      output.out.write(options.json ? formatJson(steps) : formatTable(steps, stepColumns));
    });

  program
    .command('hooks')
    .description("list a run's hooks, active and disposed")
    .argument('<runId>', 'the run')
    .option('--json', 'print JSON instead of a table')
    .action(async (runId: string, options: { json?: boolean }, command: Command) => {
      const hooks = await withWorld(command, { readOnly: true }, (world) =>
        allPages((page) => world.hooks.list(runId, page)),
      );
      output.out.write(options.json ? formatJson(hooks) : formatTable(hooks, hookColumns));
    });
}
