import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import { tokenSchema } from '../world/schemas/primitives.js';
import { parseInput } from '../world/validation.js';
import { currentReplay, requireReplay } from './context.js';
import {
  resolveStepOptions,
  type StepDefinition,
  type StepOptions,
  stepRegistry,
  validateName,
  type WorkflowDefinition,
} from './definitions.js';
import { parseDuration } from './duration.js';

/** Declares a workflow. Register it with a worker, start it with a client. */
export function workflow<Input, Output>(
  name: string,
  fn: (input: Input) => Promise<Output>,
): WorkflowDefinition<Input, Output> {
  validateName(name, 'workflow name');
  if (typeof fn !== 'function')
    throw new InvalidInputError({ field: `workflow("${name}")`, value: fn, reason: 'must be given a function' });
  return Object.freeze({ kind: 'cairn.workflow', name, fn });
}

/**
 * Declares a step. Called inside a workflow, the call is durable: recorded once, executed
 * at least once, retried per `options`, and replayed from the log afterwards. Called
 * anywhere else, it is a plain function call.
 */
export function step<Args extends unknown[], Result>(
  name: string,
  fn: (...args: Args) => Promise<Result> | Result,
  options?: StepOptions,
): (...args: Args) => Promise<Result> {
  validateName(name, 'step name');
  if (typeof fn !== 'function')
    throw new InvalidInputError({ field: `step("${name}")`, value: fn, reason: 'must be given a function' });
  const existing = stepRegistry.get(name);
  if (existing && existing.fn !== fn) {
    throw new InvalidInputError({
      field: 'step name',
      value: name,
      reason: 'is already used by another step in this process; step names must be unique',
    });
  }
  const definition: StepDefinition = {
    name,
    fn: fn as StepDefinition['fn'],
    options: resolveStepOptions(name, options),
  };
  stepRegistry.set(name, definition);
  const call = (...args: Args): Promise<Result> => {
    const replay = currentReplay();
    if (!replay) return Promise.resolve().then(() => fn(...args));
    return replay.callStep(name, args) as Promise<Result>;
  };
  Object.defineProperty(call, 'name', { value: name });
  return call;
}

/** Durable sleep: a duration (`1500`, `'500ms'`, `'2d'`) or an instant (`Date`). Survives restarts. */
export function sleep(duration: number | string | Date): Promise<void> {
  const replay = requireReplay('sleep()');
  if (duration instanceof Date) {
    const at = duration.getTime();
    if (!Number.isFinite(at))
      throw new InvalidInputError({ field: 'sleep(date)', value: duration, reason: 'must be a valid Date' });
    return replay.sleepUntil(Math.max(at, replay.now()));
  }
  return replay.sleepUntil(replay.now() + parseDuration(duration, 'sleep(duration)'));
}

/**
 * A durable inbox the outside world writes to with `client.resumeHook(token, payload)`.
 * `await hook` gives the first payload; `for await (const payload of hook)` gives every
 * payload in delivery order. Payloads sent before the workflow awaits are kept in the log
 * and delivered in order; none is lost.
 */
export interface Hook<Payload> extends PromiseLike<Payload>, AsyncIterable<Payload> {
  /** The token callers resume with. Unique among live hooks. */
  readonly token: string;
  /** Frees the token; later `resumeHook` calls fail with `HookNotFoundError`. */
  dispose(): void;
}

export function createHook<Payload = unknown>(options: { token?: string } = {}): Hook<Payload> {
  const replay = requireReplay('createHook()');
  if (options.token !== undefined) parseInput(tokenSchema, options.token, 'createHook.token');
  const command = replay.createHook(options.token);
  const nextPayload = (index: number): Promise<IteratorResult<Payload>> =>
    new Promise((resolve) => {
      const check = () => {
        if (index < command.received.length) {
          command.listeners.delete(check);
          resolve({ value: command.received[index] as Payload, done: false });
        } else if (command.disposed) {
          command.listeners.delete(check);
          resolve({ value: undefined, done: true });
        }
      };
      command.listeners.add(check);
      check();
    });
  return {
    token: command.token,
    // biome-ignore lint/suspicious/noThenProperty: a hook is deliberately awaitable.
    then(onFulfilled, onRejected) {
      return (command.first.promise as Promise<Payload>).then(onFulfilled, onRejected);
    },
    dispose: () => replay.disposeHook(command),
    [Symbol.asyncIterator]() {
      let index = 0;
      return {
        next: async () => {
          const result = await nextPayload(index);
          if (!result.done) index += 1;
          return result;
        },
        return: async () => ({ value: undefined, done: true }),
      };
    },
  };
}

export interface RunMetadata {
  runId: string;
  workflowName: string;
}

/** The run this workflow code is executing for. */
export function getRunMetadata(): RunMetadata {
  const replay = requireReplay('getRunMetadata()');
  return { runId: replay.runId, workflowName: replay.workflowName };
}

/** Deterministic time inside a workflow: the createdAt of the event being replayed. */
export function now(): number {
  return requireReplay('now()').now();
}

/** Deterministic randomness inside a workflow, seeded by the run id. */
export function random(): number {
  return requireReplay('random()').random();
}

/** A deterministic v4-format UUID inside a workflow. */
export function uuid(): string {
  return requireReplay('uuid()').uuid();
}

/** A child run started from a workflow: awaitable directly, or through `result()`. */
export interface ChildHandle<Output> extends PromiseLike<Output> {
  /** Deterministic: the same on every replay of the parent. */
  readonly runId: string;
  /** Resolves with the child's output; rejects with `RunFailedError` if it failed or was cancelled. */
  result(): Promise<Output>;
}

/**
 * Starts a child workflow run. Children run concurrently with the parent and each other;
 * the parent observes each child's outcome in its own log, in log order. Cancelling the
 * parent cancels its children. The child must be registered with a worker.
 */
export function startChild<Input, Output>(child: WorkflowDefinition<Input, Output>, input: Input): ChildHandle<Output> {
  const replay = requireReplay('startChild()');
  if (child?.kind !== 'cairn.workflow') {
    throw new InvalidInputError({
      field: 'startChild(workflow)',
      value: child,
      reason: 'must be a value made by workflow()',
    });
  }
  const { runId, promise } = replay.startChild(child.name, input);
  const result = promise as Promise<Output>;
  return {
    runId,
    result: () => result,
    // biome-ignore lint/suspicious/noThenProperty: a child handle is deliberately awaitable.
    then: (onFulfilled, onRejected) => result.then(onFulfilled, onRejected),
  };
}
