import { RunFailedError } from '../errors/run-failed-error.js';
import { StepFailedError } from '../errors/step-failed-error.js';
import type { WorldEvent } from '../world/schemas/events.js';
import type { HookCommand, StepCommand, WaitCommand } from './commands.js';
import type { IssuedCommands } from './issued-commands.js';
import { decode } from './serialization.js';

/**
 * Applies an event that answers a command the code issued: a step's outcome or retry, a
 * wait's completion, a hook's payload or disposal. Returns true when workflow code may now
 * run (a promise it awaits was settled, or a hook's listeners were told), so the replay
 * lets it react before the next event. An event naming no command the code issued changes
 * nothing. Kept apart from the replay, which applies the run's own events, so that each
 * changes for one reason: how a run moves, or how a command is answered.
 */
export function settleCommand(commands: IssuedCommands, event: WorldEvent): boolean {
  switch (event.eventType) {
    case 'step_completed': {
      const step = commands.get(event.correlationId) as StepCommand | undefined;
      if (!step) return false;
      commands.settleStep(step);
      step.resolve(decode(event.eventData?.output));
      return true;
    }
    case 'step_failed': {
      const step = commands.get(event.correlationId) as StepCommand | undefined;
      if (!step) return false;
      commands.settleStep(step);
      step.reject(
        step.child
          ? new RunFailedError({
              runId: step.child.runId,
              status: event.eventData.error.code === 'RUN_CANCELLED' ? 'cancelled' : 'failed',
              failure: event.eventData.error,
            })
          : new StepFailedError({ stepName: step.name, stepId: step.id, failure: event.eventData.error }),
      );
      return true;
    }
    case 'step_retrying': {
      const step = commands.get(event.correlationId) as StepCommand | undefined;
      if (step) {
        step.retries += 1;
        step.retryAfter = event.eventData.retryAfter;
      }
      return false;
    }
    case 'wait_completed': {
      const wait = commands.get(event.correlationId) as WaitCommand | undefined;
      if (!wait) return false;
      commands.settleWait(wait);
      wait.resolve(undefined);
      return true;
    }
    case 'hook_received': {
      const hook = commands.get(event.correlationId) as HookCommand | undefined;
      if (!hook || !commands.firstArrival(hook, event.eventData?.deliveryId)) return false;
      const payload = decode(event.eventData?.payload);
      hook.received.push(payload);
      hook.receivedAt.push(event.createdAt);
      if (hook.received.length === 1) hook.first.resolve(payload);
      for (const listener of [...hook.listeners]) listener();
      return true;
    }
    case 'hook_disposed': {
      const hook = commands.get(event.correlationId) as HookCommand | undefined;
      if (!hook) return false;
      commands.disposed(hook);
      for (const listener of [...hook.listeners]) listener();
      return true;
    }
    default:
      return false;
  }
}
