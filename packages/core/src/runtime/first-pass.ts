import type { WorkflowDefinition } from '../workflow/definitions.js';
import { WorkflowReplay } from '../workflow/replay.js';
import { formatEventId } from '../world/run-draft.js';
import type { CreateEventRequest, WorldEvent } from '../world/schemas/events.js';
import type { CreateEventResult, EnqueueRequest, QueueClaim } from '../world/world.js';
import type { Recorder } from './recorder.js';

/** A run created together with its first pass's decisions. */
export interface CreatedRun {
  /** The append's results: the run's creation first, then the decisions. */
  results: CreateEventResult[];
  /** The run's replay, caught up with everything the append committed. */
  replay: WorkflowReplay;
  /** The run's wake, leased to this process: present when the run goes on and the claim held. */
  claim?: QueueClaim;
}

/**
 * Runs a new run's first pass before the run exists, and creates the run with that pass's
 * decisions in the same append, so a run costs one commit less (and a run that ends in its
 * first pass, one commit in all).
 *
 * Nothing in a first pass acts before it commits: workflow code only derives decisions, and
 * a step it places starts after the append. So deriving them ahead of the creation is safe
 * as long as the workflow code sees the time the run will carry. That is why the append
 * proposes its stamp, which the World commits exactly or refuses; a World that refuses it
 * wrote nothing, and the caller then creates the run alone, as it does when there is no
 * fresh reading of the World's clock to stamp from, or when the pass decided nothing yet.
 */
export async function createWithFirstPass(
  recorder: Recorder,
  definition: WorkflowDefinition,
  runId: string,
  creation: CreateEventRequest,
  wake: EnqueueRequest,
): Promise<CreatedRun | undefined> {
  const prepared = await recorder.inTurn(async () => {
    const stamped = await recorder.creationStamp(runId);
    if (stamped === undefined) return undefined;
    const { createdAt } = stamped;
    const replay = new WorkflowReplay(runId, definition);
    let decisions: CreateEventRequest[];
    try {
      // The creation as it will commit: the first event, at the proposed stamp.
      await replay.feed({ ...creation, runId, seq: 1, eventId: formatEventId(1), createdAt } as WorldEvent);
      decisions = replay.divergedWith ? [] : replay.decide(createdAt);
    } catch {
      // Whatever went wrong is met again by the pass of the run created alone, which reports
      // it as any pass does; a start must not fail for it.
      stamped.pending.abandoned();
      return undefined;
    }
    if (decisions.length === 0) {
      stamped.pending.abandoned();
      return undefined;
    }
    return { stamped, replay, decisions };
  });
  if (prepared === undefined) return undefined;
  const { stamped, replay, decisions } = prepared;
  const results = await recorder.create(replay, creation, decisions, stamped, wake);
  if (results === undefined) return undefined;
  const claim = results[0]!.claims?.[0];
  return { results, replay, ...(claim === undefined ? {} : { claim }) };
}
