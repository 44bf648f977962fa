import type { HookCommand } from '../workflow/commands.js';
import type { WorkflowReplay } from '../workflow/replay.js';
import type { WorldEvent } from '../world/schemas/events.js';
import { asTraceCarrier, recordSpan } from './tracing.js';

/**
 * Spans for what a batch this worker just committed finished: a sleep (wait_completed), a
 * hook (hook_disposed, or every live hook when the run ends), the run itself (its terminal
 * event). A write commits once, so each span is emitted once, however often the run is
 * replayed afterwards.
 */
export function emitCommittedSpans(replay: WorkflowReplay, events: readonly WorldEvent[]): void {
  const carrier = asTraceCarrier(replay.traceContext);
  const run = { 'cairn.run_id': replay.runId, 'cairn.workflow': replay.workflowName };
  for (const event of events) {
    switch (event.eventType) {
      case 'wait_completed': {
        const wait = replay.command(event.correlationId);
        if (wait?.kind !== 'wait' || wait.createdAt === undefined) break;
        recordSpan(
          'cairn.sleep',
          carrier,
          { start: wait.createdAt, end: event.createdAt },
          {
            ...run,
            'cairn.wait.id': wait.id,
            'cairn.wait.resume_at': wait.resumeAt,
          },
        );
        break;
      }
      case 'hook_disposed': {
        const hook = replay.command(event.correlationId);
        if (hook?.kind === 'hook') hookSpan(hook, event.createdAt, carrier, run);
        break;
      }
      case 'run_completed':
      case 'run_failed': {
        for (const hook of replay.recordedLiveHooks()) hookSpan(hook, event.createdAt, carrier, run);
        recordSpan(
          `cairn.run ${replay.workflowName}`,
          carrier,
          { start: replay.createdAt, end: event.createdAt },
          { ...run, 'cairn.run.status': event.eventType === 'run_completed' ? 'completed' : 'failed' },
          event.eventType === 'run_failed' ? { failure: event.eventData.error.message } : {},
        );
        break;
      }
      default:
        break;
    }
  }
}

function hookSpan(
  hook: HookCommand,
  end: number,
  carrier: ReturnType<typeof asTraceCarrier>,
  run: Record<string, string>,
): void {
  if (hook.createdAt === undefined) return;
  recordSpan(
    'cairn.hook',
    carrier,
    { start: hook.createdAt, end },
    { ...run, 'cairn.hook.id': hook.id, 'cairn.hook.token': hook.token, 'cairn.hook.payloads': hook.received.length },
    { events: hook.receivedAt.map((time) => ({ name: 'cairn.hook.received', time })) },
  );
}
