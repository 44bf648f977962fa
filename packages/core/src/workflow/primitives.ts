import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import { tokenSchema } from '../world/schemas/primitives.js';
import { parseInput } from '../world/validation.js';
import type { HookCommand } from './commands.js';
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
  return {
    token: command.token,
    // biome-ignore lint/suspicious/noThenProperty: a hook is deliberately awaitable.
    then(onFulfilled, onRejected) {
      return (command.first.promise as Promise<Payload>).then(onFulfilled, onRejected);
    },
    dispose: () => replay.disposeHook(command),
    [Symbol.asyncIterator]: () => new HookIterator<Payload>(command),
  };
}

/**
 * Payloads of one hook in delivery order. Each `next()` claims the next position when it
 * is called, not when it resolves, as the async-iterator protocol requires: two pending
 * calls get the first and the second payload, never the same one twice. So a `next()`
 * raced against a timeout and abandoned still owns its payload; keep the pending call and
 * race it again rather than calling `next()` anew. The iterator keeps at most one listener
 * on the hook, and only while a call is pending.
 */
class HookIterator<Payload> implements AsyncIterator<Payload> {
  private claimed = 0;
  private finished = false;
  private readonly pending: { index: number; resolve: (result: IteratorResult<Payload>) => void }[] = [];
  private readonly listener = () => this.settle();

  constructor(private readonly command: HookCommand) {}

  next(): Promise<IteratorResult<Payload>> {
    if (this.finished) return Promise.resolve({ value: undefined, done: true });
    const index = this.claimed;
    this.claimed += 1;
    return new Promise((resolve) => {
      this.pending.push({ index, resolve });
      this.command.listeners.add(this.listener);
      this.settle();
    });
  }

  return(): Promise<IteratorResult<Payload>> {
    this.finished = true;
    for (const request of this.pending.splice(0)) request.resolve({ value: undefined, done: true });
    this.command.listeners.delete(this.listener);
    return Promise.resolve({ value: undefined, done: true });
  }

  /** Answers pending calls in order while payloads (or the disposal) allow. */
  private settle(): void {
    const { received, disposed } = this.command;
    while (this.pending.length > 0) {
      const request = this.pending[0]!;
      if (request.index < received.length) {
        request.resolve({ value: received[request.index] as Payload, done: false });
      } else if (disposed) {
        request.resolve({ value: undefined, done: true });
      } else {
        break;
      }
      this.pending.shift();
    }
    if (this.pending.length === 0) this.command.listeners.delete(this.listener);
  }
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
