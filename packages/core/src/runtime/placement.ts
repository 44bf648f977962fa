import { stepRegistry } from '../workflow/definitions.js';
import type { WorkflowReplay } from '../workflow/replay.js';
import { childStepPrefix } from '../workflow/reserved-names.js';
import type { CreateEventRequest } from '../world/schemas/events.js';
import type { EnqueueRequest } from '../world/world.js';
import { stepMessage, wakeRequest } from './topics.js';
import { asTraceCarrier } from './tracing.js';

/**
 * Decides where each new step's attempts will run, and records it in its step_created: a
 * step this worker has a free slot (of `freeSlots`) and a definition for runs inline; any
 * other goes to the step queue. A caller without the run's lease passes no free slots,
 * since several passes of the run may be live at once and none of them can know what the
 * others started.
 */
export function placeSteps(writes: CreateEventRequest[], freeSlots: number): CreateEventRequest[] {
  let slotsLeft = freeSlots;
  return writes.map((write) => {
    if (write.eventType !== 'step_created' || write.eventData.stepName.startsWith(childStepPrefix)) return write;
    const inline = slotsLeft > 0 && stepRegistry.has(write.eventData.stepName);
    if (inline) slotsLeft -= 1;
    const placement = inline ? ('inline' as const) : ('queue' as const);
    return Object.assign({}, write, { eventData: Object.assign({}, write.eventData, { placement }) });
  });
}

/**
 * The messages an append of `writes` implies, to go in its outbox: each queued step's first
 * attempt, and each future wait's timer. `now` is the World's time as this process reads it.
 */
export function outboxOf(
  replay: WorkflowReplay,
  writes: readonly CreateEventRequest[],
  now: number,
  runLease: boolean,
): EnqueueRequest[] {
  const runId = replay.runId;
  const enqueue: EnqueueRequest[] = [];
  for (const write of writes) {
    if (write.eventType === 'step_created' && write.eventData.placement === 'queue') {
      enqueue.push(stepMessage(runId, write.correlationId, 0, 0, asTraceCarrier(replay.traceContext)));
    } else if (write.eventType === 'wait_created' && write.eventData.resumeAt > now) {
      enqueue.push(
        wakeRequest(runId, runLease, {
          dueAt: write.eventData.resumeAt,
          now,
          key: `wait:${runId}:${write.correlationId}`,
        }),
      );
    }
  }
  return enqueue;
}
