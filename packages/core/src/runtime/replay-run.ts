import { ReplayDivergenceError } from '../errors/replay-divergence-error.js';
import type { WorkflowDefinition } from '../workflow/definitions.js';
import { installDeterminism } from '../workflow/determinism.js';
import { WorkflowReplay } from '../workflow/replay.js';
import { decode } from '../workflow/serialization.js';
import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import type { WorldEvent } from '../world/schemas/events.js';
import type { World } from '../world/world.js';

export type ReplayVerdict =
  | { status: 'completed'; output: unknown }
  | { status: 'failed'; error: unknown }
  | { status: 'waiting' }
  | { status: 'diverged'; error: ReplayDivergenceError };

/**
 * Replays a run's whole log against `workflow` from scratch, in this process, writing
 * nothing. Use it to check that code still matches recorded runs before deploying it, or to
 * prove that a run's first execution and its replay agree: a completed run's verdict must
 * equal its recorded output.
 */
export async function replayRun<Input, Output>(
  world: World,
  workflow: WorkflowDefinition<Input, Output>,
  runId: string,
): Promise<ReplayVerdict> {
  const events: WorldEvent[] = [];
  for (let hasMore = true; hasMore; ) {
    const page = await world.events.list(runId, { afterSeq: events.length, limit: 1000 });
    events.push(...page.data);
    hasMore = page.hasMore;
  }
  return replayEvents(workflow, events);
}

/**
 * Replays a run's log given as events (as `RunHandle.events()` returns them, or as parsed
 * back from JSON) against `workflow`, in this process, with no World. The events must be
 * one run's, in order from its first. Use it to keep recorded logs beside the tests and
 * check new code against them before a deploy. Throws `InvalidInputError` for events that
 * are not one run's log.
 */
export async function replayEvents<Input, Output>(
  workflow: WorkflowDefinition<Input, Output>,
  events: readonly WorldEvent[],
): Promise<ReplayVerdict> {
  installDeterminism();
  if (!Array.isArray(events) || events.length === 0 || events[0]?.eventType !== 'run_created') {
    throw new InvalidInputError({
      field: 'events',
      value: events,
      reason: "must be a run's log, starting at run_created",
    });
  }
  const runId = events[0].runId;
  const replay = new WorkflowReplay(runId, workflow as WorkflowDefinition);
  for (const [index, event] of events.entries()) {
    if (event.runId !== runId || event.seq !== index + 1) {
      throw new InvalidInputError({
        field: `events[${index}]`,
        value: { runId: event.runId, seq: event.seq },
        reason: `must be event ${index + 1} of run ${runId}`,
      });
    }
    // Terminal events are outcomes, not inputs: stop before them and read the replay's own.
    if (event.eventType === 'run_completed' || event.eventType === 'run_failed' || event.eventType === 'run_cancelled')
      break;
    try {
      await replay.feed(event);
    } catch (error) {
      if (ReplayDivergenceError.is(error)) return { status: 'diverged', error };
      throw error;
    }
  }
  const writes = replay.decide(Number.NEGATIVE_INFINITY);
  const outcome = writes.find((write) => write.eventType === 'run_completed' || write.eventType === 'run_failed');
  if (outcome?.eventType === 'run_completed') return { status: 'completed', output: decode(outcome.eventData.output) };
  if (outcome?.eventType === 'run_failed') return { status: 'failed', error: outcome.eventData.error };
  return { status: 'waiting' };
}
