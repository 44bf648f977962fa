import { FatalError } from '../errors/fatal-error.js';
import { RetryableError } from '../errors/retryable-error.js';
import { workflowContext } from '../workflow/context.js';
import { backoffDelay, type StepDefinition } from '../workflow/definitions.js';
import { serializeError } from '../workflow/replay.js';
import { decode, encode } from '../workflow/serialization.js';
import { stepContext } from '../workflow/streams.js';
import type { CreateEventRequest } from '../world/schemas/events.js';
import type { JsonValue } from '../world/schemas/primitives.js';
import type { World } from '../world/world.js';

/** One attempt's outcome as the event that records it. */
export type StepOutcome = Extract<
  CreateEventRequest,
  { eventType: 'step_completed' | 'step_failed' | 'step_retrying' }
>;

class StepTimeoutError extends Error {
  override name = 'StepTimeoutError';
}

/**
 * Runs one attempt of a step body and turns the result into the event that records it:
 * completed, failed for good (FatalError, retries exhausted, unserialisable output), or
 * retrying at a time from RetryableError or the step's backoff. The body runs outside any
 * workflow context, so it may use the clock, randomness and I/O freely.
 */
export async function runStepAttempt(
  definition: StepDefinition,
  step: { stepId: string; input: JsonValue | undefined; retries: number },
  context: { world: World; runId: string },
  clock: () => number,
): Promise<StepOutcome> {
  const { maxRetries, backoff, timeoutMs } = definition.options;
  const correlationId = step.stepId;
  let output: unknown;
  try {
    const args = (decode(step.input) as unknown[] | undefined) ?? [];
    const body = workflowContext.exit(() =>
      stepContext.run({ ...context, stepId: step.stepId }, () =>
        Promise.resolve().then(() => definition.fn(...(args as never[]))),
      ),
    );
    output = await (timeoutMs === undefined ? body : withTimeout(body, timeoutMs, definition.name));
  } catch (error) {
    const failure = serializeError(error);
    if (FatalError.is(error) || step.retries >= maxRetries) {
      return { eventType: 'step_failed', correlationId, eventData: { error: failure } };
    }
    const delay = RetryableError.is(error) ? error.retryAfterMs : backoffDelay(backoff, step.retries + 1);
    return { eventType: 'step_retrying', correlationId, eventData: { error: failure, retryAfter: clock() + delay } };
  }
  try {
    return {
      eventType: 'step_completed',
      correlationId,
      eventData: { output: encode(output, `step "${definition.name}" result`) },
    };
  } catch (error) {
    // Another attempt would return the same unstorable value: fail now.
    return { eventType: 'step_failed', correlationId, eventData: { error: serializeError(error) } };
  }
}

function withTimeout<Value>(promise: Promise<Value>, ms: number, name: string): Promise<Value> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new StepTimeoutError(`Step "${name}" timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
