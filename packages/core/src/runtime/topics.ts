import { createHash } from 'node:crypto';
import { limits } from '../world/schemas/primitives.js';
import type { EnqueueRequest } from '../world/world.js';

/** Wakes a run's orchestrator. Payload `WakeMessage`; grouped by run id when the run lease is on. */
export const workflowTopic = 'cairn.workflows';
/** Executes one step attempt elsewhere than its orchestrator. Payload `StepMessage`. */
export const stepTopic = 'cairn.steps';

export interface WakeMessage {
  runId: string;
  /**
   * Set on a timer: the World time at which the wait or retry it serves is due. A pass
   * woken by a timer that finds its target not yet due (the clocks disagreed) arms a new
   * one, since a timer re-armed under its old idempotency key would be deduplicated
   * against itself while it is being handled.
   */
  dueAt?: number;
}

export interface StepMessage {
  runId: string;
  stepId: string;
  /** The run's trace context, so the attempt's span joins the run's trace in any process. */
  trace?: Record<string, string>;
}

/** A wake for the run, delayed until `dueAt` when a timer (both in World time). */
export function wakeRequest(
  runId: string,
  runLease: boolean,
  timer?: { dueAt: number; now: number; key: string },
): EnqueueRequest {
  const delayMs = timer === undefined ? 0 : Math.max(0, Math.ceil(timer.dueAt - timer.now));
  const payload: WakeMessage = timer === undefined ? { runId } : { runId, dueAt: timer.dueAt };
  return {
    topic: workflowTopic,
    payload: { ...payload },
    options: {
      ...(delayMs > 0 ? { delayMs } : {}),
      ...(runLease ? { groupKey: runId } : {}),
      ...(timer === undefined ? {} : { idempotencyKey: boundedKey(timer.key) }),
    },
  };
}

/** Attempt `retries + 1` of a queued step. The key makes a repeated dispatch of one attempt free. */
export function stepMessage(
  runId: string,
  stepId: string,
  retries: number,
  delayMs = 0,
  trace?: Record<string, string>,
): EnqueueRequest {
  const payload: StepMessage = trace === undefined ? { runId, stepId } : { runId, stepId, trace };
  return {
    topic: stepTopic,
    payload: { ...payload },
    options: { idempotencyKey: boundedKey(`step:${runId}:${stepId}:${retries}`), ...(delayMs > 0 ? { delayMs } : {}) },
  };
}

/** Keys built from two ids can outgrow the id limit; those are replaced by a digest of the whole key. */
export function boundedKey(key: string): string {
  if (key.length <= limits.maxIdLength) return key;
  return `sha256:${createHash('sha256').update(key).digest('hex')}`;
}
