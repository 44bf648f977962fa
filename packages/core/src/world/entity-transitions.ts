import { EntityConflictError } from './errors/entity-conflict-error.js';
import { RunTerminalError } from './errors/run-terminal-error.js';
import { type Hook, isTerminalRunStatus, type Run, type Step, type Wait } from './schemas/entities.js';
import type { WorldEvent } from './schemas/events.js';

/**
 * What one event makes of one entity, as pure functions: each takes the entity as it stands
 * (or nothing, for a creation) and returns the new one, or throws when the entity refuses
 * the event. Which entity an event names, and what else in the run it touches (hook tokens,
 * delivery ids, the hooks a finished run releases), is the draft's business (run-draft.ts).
 */

type EventOf<Type extends WorldEvent['eventType']> = Extract<WorldEvent, { eventType: Type }>;

export type StepAttemptEvent = EventOf<'step_started' | 'step_completed' | 'step_failed' | 'step_retrying'>;

export const isTerminalEventType = (eventType: string): boolean =>
  eventType === 'run_completed' || eventType === 'run_failed' || eventType === 'run_cancelled';

export function entityConflict(
  runId: string,
  entity: 'run' | 'step' | 'hook' | 'wait',
  correlationId: string | undefined,
  message: string,
): EntityConflictError {
  return new EntityConflictError({
    runId,
    entity,
    ...(correlationId === undefined ? {} : { correlationId }),
    message,
  });
}

export function createdRun(runId: string, event: EventOf<'run_created'>): Run {
  const { workflowName, input, metadata, parentRunId } = event.eventData;
  return {
    runId,
    workflowName,
    status: 'pending',
    ...(input === undefined ? {} : { input }),
    ...(metadata === undefined ? {} : { metadata }),
    ...(parentRunId === undefined ? {} : { parentRunId }),
    createdAt: event.createdAt,
    updatedAt: event.createdAt,
    lastSeq: event.seq,
    lastEventId: event.eventId,
  };
}

/**
 * The run after any event but its creation: every event moves its tail, and the run's own
 * events (start, waiting, the three ends) move its status. A finished run takes nothing more.
 */
export function advancedRun(current: Run, event: WorldEvent): Run {
  const { runId } = current;
  if (isTerminalRunStatus(current.status)) {
    throw new RunTerminalError({ runId, status: current.status, eventType: event.eventType });
  }
  const at = event.createdAt;
  // Object.assign onto a literal, not a spread: V8 gives an object spread from a fresh
  // literal, then extended, a new hidden class every time.
  const run: Run = Object.assign({}, current, { updatedAt: at, lastSeq: event.seq, lastEventId: event.eventId });
  // Why a run waits to start stops mattering once it starts or ends.
  if (event.eventType === 'run_started' || isTerminalEventType(event.eventType)) delete run.waiting;
  switch (event.eventType) {
    case 'run_started':
      if (current.status !== 'pending')
        throw entityConflict(runId, 'run', undefined, `Run ${runId} was already started`);
      run.status = 'running';
      run.startedAt = at;
      break;
    case 'run_waiting': {
      // Only a run nobody has started waits to start; later, the report would be stale.
      if (current.status !== 'pending') {
        throw entityConflict(
          runId,
          'run',
          undefined,
          `Run ${runId} is already ${current.status}; refusing run_waiting`,
        );
      }
      const { reason, message, workerWorkflows } = event.eventData;
      const since = current.waiting?.reason === reason ? current.waiting.since : at;
      run.waiting = { reason, message, ...(workerWorkflows === undefined ? {} : { workerWorkflows }), since };
      break;
    }
    case 'run_completed':
      Object.assign(run, { status: 'completed', completedAt: at });
      if (event.eventData.output !== undefined) run.output = event.eventData.output;
      break;
    case 'run_failed':
      Object.assign(run, { status: 'failed', completedAt: at, error: event.eventData.error });
      break;
    case 'run_cancelled':
      Object.assign(run, { status: 'cancelled', completedAt: at });
      if (event.eventData?.reason !== undefined) run.cancelReason = event.eventData.reason;
      break;
  }
  return run;
}

export function createdStep(runId: string, event: EventOf<'step_created'>): Step {
  const step: Step = {
    runId,
    stepId: event.correlationId,
    stepName: event.eventData.stepName,
    status: 'pending',
    attempt: 0,
    retries: 0,
    createdAt: event.createdAt,
    updatedAt: event.createdAt,
  };
  if (event.eventData.input !== undefined) step.input = event.eventData.input;
  return step;
}

/**
 * The step after an attempt starts, completes, fails or will retry. A step that has
 * completed or failed for good takes none of them.
 */
export function advancedStep(current: Step, event: StepAttemptEvent): Step {
  if (current.status === 'completed' || current.status === 'failed') {
    throw entityConflict(
      current.runId,
      'step',
      current.stepId,
      `Step ${current.stepId} on run ${current.runId} is already ${current.status}; refusing ${event.eventType}`,
    );
  }
  const at = event.createdAt;
  const step: Step = Object.assign({}, current, { updatedAt: at });
  if (event.eventType === 'step_started') {
    step.status = 'running';
    step.attempt += 1;
    step.startedAt ??= at;
    delete step.retryAfter;
  } else if (event.eventType === 'step_completed') {
    Object.assign(step, { status: 'completed', completedAt: at });
    if (event.eventData?.output !== undefined) step.output = event.eventData.output;
  } else if (event.eventType === 'step_failed') {
    Object.assign(step, { status: 'failed', completedAt: at, error: event.eventData.error });
  } else {
    Object.assign(step, { status: 'pending', error: event.eventData.error, retries: step.retries + 1 });
    if (event.eventData.retryAfter !== undefined) step.retryAfter = event.eventData.retryAfter;
  }
  return step;
}

export function createdHook(runId: string, event: EventOf<'hook_created'>): Hook {
  const { token, metadata } = event.eventData;
  const hook: Hook = {
    runId,
    hookId: event.correlationId,
    token,
    status: 'active',
    receivedCount: 0,
    createdAt: event.createdAt,
    updatedAt: event.createdAt,
  };
  if (metadata !== undefined) hook.metadata = metadata;
  return hook;
}

export function receivedHook(active: Hook, at: number): Hook {
  return { ...active, receivedCount: active.receivedCount + 1, updatedAt: at };
}

export function disposedHook(hook: Hook, at: number): Hook {
  return { ...hook, status: 'disposed', updatedAt: at, disposedAt: at };
}

export function createdWait(runId: string, event: EventOf<'wait_created'>): Wait {
  return {
    runId,
    waitId: event.correlationId,
    status: 'waiting',
    resumeAt: event.eventData.resumeAt,
    createdAt: event.createdAt,
  };
}

export function completedWait(existing: Wait, at: number): Wait {
  if (existing.status === 'completed') {
    throw entityConflict(
      existing.runId,
      'wait',
      existing.waitId,
      `Wait ${existing.waitId} on run ${existing.runId} is already completed`,
    );
  }
  return { ...existing, status: 'completed', completedAt: at };
}
