import { FatalError } from '../errors/fatal-error.js';
import { RetryableError } from '../errors/retryable-error.js';
import { runStepBody } from '../workflow/context.js';
import { backoffDelay, type StepDefinition } from '../workflow/definitions.js';
import { decode, encode, serializeError } from '../workflow/serialization.js';
import { surelyFitsJson } from '../world/json-size-bound.js';
import type { CreateEventRequest } from '../world/schemas/events.js';
import type { JsonValue, SerializedError } from '../world/schemas/primitives.js';
import type { World } from '../world/world.js';
import { LazyAbort } from './lazy-abort.js';
import { type TraceCarrier, withSpan } from './tracing.js';

/** One attempt's outcome as the event that records it. */
export type StepOutcome = Extract<
  CreateEventRequest,
  { eventType: 'step_completed' | 'step_failed' | 'step_retrying' }
>;

class StepTimeoutError extends Error {
  override name = 'StepTimeoutError';
}

/** Room left in the World's payload limit for the rest of the event and a wake message. */
const payloadHeadroomBytes = 1024;
/** Error messages and stacks beyond this are cut: a recorded failure must always fit. */
const maxErrorTextLength = 16 * 1024;

/**
 * Runs one attempt of a step body and turns the result into the event that records it:
 * completed, failed for good (FatalError, retries exhausted, a result that cannot be
 * stored), or retrying at a time from RetryableError or the step's backoff. The body runs
 * outside any workflow context, so it may use the clock, randomness and I/O freely.
 *
 * `signal` is the attempt's abort signal (the run was cancelled, the worker is stopping);
 * the body sees it through `getStepMetadata().signal`, which also aborts on `timeoutMs`.
 * A result that cannot be encoded or is too large for the World fails the step at once,
 * since every further attempt would produce the same unstorable value.
 */
/**
 * Called before each step attempt's body, outside any workflow. A throw (or rejection) fails
 * that attempt exactly as if the body had thrown it: retried per the step's policy, or failed
 * for good. `@cairn/testing` injects step failures through it.
 */
export type BeforeStepAttempt = (attempt: {
  runId: string;
  stepId: string;
  stepName: string;
  /** 1 for the first attempt. */
  attempt: number;
}) => void | Promise<void>;

export function runStepAttempt(
  definition: StepDefinition,
  step: { stepId: string; input: JsonValue | undefined; retries: number },
  context: {
    world: World;
    runId: string;
    signal?: AbortSignal | LazyAbort;
    trace?: TraceCarrier | undefined;
    beforeAttempt?: BeforeStepAttempt | undefined;
  },
  clock: () => number,
): Promise<StepOutcome> {
  // One span per attempt actually run, a child of the run's trace; replays never run steps.
  return withSpan(
    `cairn.step ${definition.name}`,
    context.trace,
    {
      'cairn.run_id': context.runId,
      'cairn.step.id': step.stepId,
      'cairn.step.name': definition.name,
      'cairn.step.attempt': step.retries + 1,
    },
    () => attempt(definition, step, context, clock),
    (outcome) =>
      outcome.eventType === 'step_completed'
        ? undefined
        : `${outcome.eventType === 'step_failed' ? 'failed' : 'will retry'}: ${outcome.eventData.error.message}`,
  );
}

async function attempt(
  definition: StepDefinition,
  step: { stepId: string; input: JsonValue | undefined; retries: number },
  context: {
    world: World;
    runId: string;
    signal?: AbortSignal | LazyAbort | undefined;
    beforeAttempt?: BeforeStepAttempt | undefined;
  },
  clock: () => number,
): Promise<StepOutcome> {
  const { maxRetries, backoff, timeoutMs } = definition.options;
  const correlationId = step.stepId;
  const attempt = new LazyAbort();
  const stopFollowing = attempt.follow(context.signal);
  let output: unknown;
  try {
    const args = (decode(step.input) as unknown[] | undefined) ?? [];
    const body = runStepBody(
      {
        world: context.world,
        runId: context.runId,
        stepId: step.stepId,
        attempt: step.retries + 1,
        // Made only if the body asks (see LazyAbort).
        get signal() {
          return attempt.signal;
        },
      },
      async () => {
        await context.beforeAttempt?.({
          runId: context.runId,
          stepId: step.stepId,
          stepName: definition.name,
          attempt: step.retries + 1,
        });
        return definition.fn(...(args as never[]));
      },
    );
    output = await (timeoutMs === undefined ? body : withTimeout(body, timeoutMs, definition.name, attempt));
  } catch (error) {
    const failure = boundedError(serializeError(error));
    if (FatalError.is(error) || step.retries >= maxRetries) {
      return { eventType: 'step_failed', correlationId, eventData: { error: failure } };
    }
    const delay = RetryableError.is(error) ? error.retryAfterMs : backoffDelay(backoff, step.retries + 1);
    return { eventType: 'step_retrying', correlationId, eventData: { error: failure, retryAfter: clock() + delay } };
  } finally {
    stopFollowing();
  }
  let completed: StepOutcome;
  try {
    completed = {
      eventType: 'step_completed',
      correlationId,
      eventData: { output: encode(output, `step "${definition.name}" result`) },
    };
  } catch (error) {
    return { eventType: 'step_failed', correlationId, eventData: { error: boundedError(serializeError(error)) } };
  }
  const limit = context.world.capabilities.maxPayloadBytes - payloadHeadroomBytes;
  if (surelyFitsJson(completed as unknown as JsonValue, limit)) return completed;
  const bytes = Buffer.byteLength(JSON.stringify(completed));
  if (bytes > limit) {
    return {
      eventType: 'step_failed',
      correlationId,
      eventData: {
        error: {
          name: 'PayloadTooLargeError',
          code: 'PAYLOAD_TOO_LARGE',
          message: `Step "${definition.name}" returned a result of ${bytes} bytes once encoded; this World stores at most ${limit} (maxPayloadBytes ${context.world.capabilities.maxPayloadBytes}, less room for the event around it). Store large data elsewhere and return a reference.`,
        },
      },
    };
  }
  return completed;
}

function boundedError(error: SerializedError): SerializedError {
  const cut = (text: string) =>
    text.length <= maxErrorTextLength
      ? text
      : `${text.slice(0, maxErrorTextLength)}… (${text.length} characters in all)`;
  return {
    ...error,
    message: cut(error.message),
    ...(error.stack === undefined ? {} : { stack: cut(error.stack) }),
  };
}

function withTimeout<Value>(promise: Promise<Value>, ms: number, name: string, attempt: LazyAbort): Promise<Value> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const error = new StepTimeoutError(`Step "${name}" timed out after ${ms} ms`);
      attempt.abort(error);
      reject(error);
    }, ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
