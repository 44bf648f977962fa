import type { CreateEventRequest, CreateEventResult, World } from '@cairn/core/world';

/*
 * Builders for the create requests tests append most. Payloads are typed loosely on
 * purpose: tests pass arbitrary JSON and the World validates it.
 */

export const runCreated = (workflowName = 'conformance', input?: unknown): CreateEventRequest => ({
  eventType: 'run_created',
  eventData: { workflowName, ...(input === undefined ? {} : { input: input as never }) },
});
export const runStarted: CreateEventRequest = { eventType: 'run_started' };
export const stepCreated = (stepId: string, stepName = 'work', input?: unknown): CreateEventRequest => ({
  eventType: 'step_created',
  correlationId: stepId,
  eventData: { stepName, ...(input === undefined ? {} : { input: input as never }) },
});
export const stepCompleted = (stepId: string, output?: unknown): CreateEventRequest => ({
  eventType: 'step_completed',
  correlationId: stepId,
  eventData: output === undefined ? {} : { output: output as never },
});
export const hookCreated = (hookId: string, token: string): CreateEventRequest => ({
  eventType: 'hook_created',
  correlationId: hookId,
  eventData: { token },
});
export const hookReceived = (hookId: string, payload?: unknown): CreateEventRequest => ({
  eventType: 'hook_received',
  correlationId: hookId,
  eventData: payload === undefined ? {} : { payload: payload as never },
});
/** A delivery with its id, as the engine writes one. */
export const hookDelivery = (hookId: string, deliveryId: string, payload: unknown = null): CreateEventRequest => ({
  eventType: 'hook_received',
  correlationId: hookId,
  eventData: { payload: payload as never, deliveryId },
});
export const hookDisposed = (hookId: string): CreateEventRequest => ({
  eventType: 'hook_disposed',
  correlationId: hookId,
});
export const waitCreated = (waitId: string, resumeAt = Date.now() + 60_000): CreateEventRequest => ({
  eventType: 'wait_created',
  correlationId: waitId,
  eventData: { resumeAt },
});
export const waitCompleted = (waitId: string): CreateEventRequest => ({
  eventType: 'wait_completed',
  correlationId: waitId,
});
export const failure = (message = 'boom') => ({ name: 'Error', message });

let runCounter = 0;
/** A client-chosen run id that is unique within this process. */
export function freshRunId(prefix = 'run'): string {
  runCounter += 1;
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${runCounter}`;
}

/** Creates a run (minted id) and starts it, plus any further events, in one batch. */
export async function startRun(world: World, ...more: CreateEventRequest[]): Promise<CreateEventResult[]> {
  return world.events.createBatch(null, [runCreated(), runStarted, ...more]);
}

/** The run id and current tail of a started run. */
export async function startedRun(world: World, ...more: CreateEventRequest[]) {
  const results = await startRun(world, ...more);
  const last = results.at(-1)!;
  return { runId: last.event.runId, tail: last.event.eventId, results };
}
