import { ReplayDivergenceError } from '../errors/replay-divergence-error.js';
import type { WorkflowDefinition } from '../workflow/definitions.js';
import { installDeterminism } from '../workflow/determinism.js';
import { WorkflowReplay } from '../workflow/replay.js';
import { decode } from '../workflow/serialization.js';
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
  installDeterminism();
  const replay = new WorkflowReplay(runId, workflow as WorkflowDefinition);
  for (let afterSeq = 0, hasMore = true; hasMore; ) {
    const page = await world.events.list(runId, { afterSeq, limit: 1000 });
    for (const event of page.data) {
      // Terminal events are outcomes, not inputs: stop before them and read the replay's own.
      if (
        event.eventType === 'run_completed' ||
        event.eventType === 'run_failed' ||
        event.eventType === 'run_cancelled'
      ) {
        hasMore = false;
        break;
      }
      try {
        await replay.feed(event);
      } catch (error) {
        if (ReplayDivergenceError.is(error)) return { status: 'diverged', error };
        throw error;
      }
    }
    afterSeq += page.data.length;
    hasMore &&= page.hasMore;
  }
  const writes = replay.decide(Number.NEGATIVE_INFINITY);
  const outcome = writes.find((write) => write.eventType === 'run_completed' || write.eventType === 'run_failed');
  if (outcome?.eventType === 'run_completed') return { status: 'completed', output: decode(outcome.eventData.output) };
  if (outcome?.eventType === 'run_failed') return { status: 'failed', error: outcome.eventData.error };
  return { status: 'waiting' };
}
