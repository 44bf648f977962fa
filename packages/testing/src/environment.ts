import { rm } from 'node:fs/promises';
import {
  type Client,
  createClient,
  createWorker,
  HookNotFoundError,
  type RunHandle,
  type Worker,
  type WorkflowDefinition,
} from '@cairn/core';
import { type Hook, InvalidInputError, type Logger, type Wait, type World } from '@cairn/core/world';
import { Activity } from './activity.js';
import { Faults } from './faults.js';
import { instrumentWorld, type WorldView } from './instrumented-world.js';
import { pendingSleep } from './observe.js';
import { openWorld } from './open-world.js';
import { exportRun, type RecordedRun } from './replay.js';
import { TestWaitTimeoutError } from './test-wait-timeout-error.js';
import { VirtualClock } from './virtual-clock.js';
import type { WorldClockMismatchError } from './world-clock-mismatch-error.js';

export interface TestEnvironmentOptions {
  /** The workflows the environment's worker runs. */
  // biome-ignore lint/suspicious/noExplicitAny: workflows of any input and output type are accepted.
  workflows: readonly WorkflowDefinition<any, any>[];
  /**
   * The World to test against. Default: world-local in a fresh temporary directory, on the
   * environment's clock, removed on `close()`. A function gets the environment's clock, so
   * the World it builds shares it, and `close()` closes it; a World given as is must come
   * with `clock`, the clock it was built with (`InvalidInputError` otherwise), and is left
   * open. A World that stamps events at times the clock never showed keeps time of its own:
   * the environment's waits then reject with `WorldClockMismatchError`.
   */
  world?: World | ((clock: VirtualClock) => World | Promise<World>);
  /** The virtual clock, when the World was built with it. Default: a new one at `startAt`. */
  clock?: VirtualClock;
  /** Where virtual time starts (ms since the epoch, or a Date). Default: the real time at creation. */
  startAt?: Date | number;
  /**
   * Skip time on its own while a test awaits `run.result()` and nothing runs but timers.
   * Default true. With false, time moves only through `clock.advance`.
   */
  autoSkip?: boolean;
  /** Seeds every random choice a fault makes, so a failing test reproduces. Default 1. */
  seed?: number;
  /** The worker's concurrency. Default 10. */
  concurrency?: number;
  /** Where the worker reports retried failures. Default: silent (injected faults would be noisy). */
  logger?: Logger | false;
}

/** Options of the environment's waits. */
export interface TestWaitOptions {
  /** Real milliseconds to wait before `TestWaitTimeoutError`. Default 10 000. */
  timeoutMs?: number;
}

export interface TestEnvironment {
  /** A client on the environment's World; `run.result()` from it skips time (see `autoSkip`). */
  readonly client: Client;
  /** The World, seen through the environment (reads count as activity; no faults apply). */
  readonly world: World;
  /** The current worker; a new one after a simulated crash. */
  readonly worker: Worker;
  readonly clock: VirtualClock;
  /** Arms faults on the workers' World calls and step attempts. */
  readonly faults: Faults;
  readonly seed: number;
  /** Resolves with the live hook holding `token` once one exists. */
  waitForHook(token: string, options?: TestWaitOptions): Promise<Hook>;
  /** Resolves with the wait once the run is blocked on a sleep (a `sleep()` not yet due). */
  waitForSleep(runId: string, options?: TestWaitOptions): Promise<Wait>;
  /**
   * Delivers `payload` to the hook holding `token` at the instant the run's pending sleep
   * falls due, the two racing: the seed decides which one starts first. Resolves once both
   * have happened; `delivered` is false when the run ended (the sleep won) and disposed the
   * hook before the payload reached it.
   */
  resumeHookAsSleepEnds(
    runId: string,
    token: string,
    payload?: unknown,
  ): Promise<{ first: 'hook' | 'sleep'; delivered: boolean; resumeAt: number }>;
  /** Resolves once nothing runs but timers: no World call, no due message, step or sleep. */
  settled(): Promise<void>;
  /** Stops the worker as a crash would (its in-memory state is lost) and starts a fresh one. */
  restartWorker(): Promise<void>;
  /** The run's whole log as a JSON-ready document, for `checkReplay`. */
  exportRun(runId: string): Promise<RecordedRun>;
  /** Stops the worker, closes the World it created and removes its directory. Idempotent. */
  close(): Promise<void>;
}

const realPause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function createTestEnvironment(options: TestEnvironmentOptions): Promise<TestEnvironment> {
  if (typeof options !== 'object' || options === null) {
    throw new InvalidInputError({ field: 'options', value: options, reason: 'must be an object with workflows' });
  }
  const { workflows, autoSkip = true, seed = 1, concurrency = 10, logger = false } = options;
  if (!Number.isInteger(seed))
    throw new InvalidInputError({ field: 'seed', value: seed, reason: 'must be a whole number' });
  if (typeof autoSkip !== 'boolean') {
    throw new InvalidInputError({ field: 'autoSkip', value: autoSkip, reason: 'must be true or false' });
  }
  const startAt = options.startAt instanceof Date ? options.startAt.getTime() : (options.startAt ?? Date.now());
  const clock = options.clock ?? new VirtualClock(startAt);
  const opened = await openWorld(options.world, clock, options.clock !== undefined);
  const { world: raw, directory, owned: ownsWorld } = opened;
  const activity = new Activity(() => clock.now());
  const faults = new Faults(seed);
  // A World stamping times the clock never showed keeps its own time: every wait fails.
  let clockMismatch: WorldClockMismatchError | undefined;
  let reportMismatch: (error: WorldClockMismatchError) => void = () => {};
  const mismatched = new Promise<never>((_, reject) => {
    reportMismatch = (error) => {
      clockMismatch ??= error;
      reject(clockMismatch);
    };
  });
  mismatched.catch(() => {});
  const clientView = instrumentWorld(raw, { activity, clock, onClockMismatch: reportMismatch });
  let closed = false;
  let restarting: Promise<void> | undefined;
  let view: WorldView;
  let worker: Worker;

  const startWorker = async () => {
    view = instrumentWorld(raw, {
      activity,
      faults,
      clock,
      onClockMismatch: reportMismatch,
      onCrash: () => void restart(),
    });
    worker = createWorker({
      world: view.world,
      workflows,
      clock,
      concurrency,
      logger,
      beforeStepAttempt: (attempt) => {
        activity.attemptStarted(attempt.runId, attempt.stepId);
        return faults.beforeStepAttempt(attempt);
      },
      // Virtual time stands still during an append, so a stamp at the clock always lands.
      speculationMarginMs: 0,
    });
    await worker.start();
  };
  const restart = () => {
    const previous = worker;
    view.kill();
    restarting ??= (async () => {
      await previous.stop();
      activity.forgetAttempts();
      if (!closed) await startWorker();
    })().finally(() => {
      restarting = undefined;
    });
    return restarting;
  };

  /** Nothing runs but timers: the condition for moving time. */
  const settled = async (): Promise<void> => {
    for (;;) {
      if (closed) return;
      if (restarting) await restarting;
      if (activity.busy) {
        await Promise.race([activity.next(), realPause(5)]);
        continue;
      }
      const version = activity.version;
      // A handler that just finished may start its next call a few turns later.
      for (let index = 0; index < 5; index++) await turn();
      if (activity.version === version && !activity.busy && !restarting) return;
    }
  };
  clock.settle = settled;

  /**
   * The waits in progress that skip time (`result()`, `waitForHook`, `waitForSleep`), each
   * with a check of whether what it waits for has happened. Time skips only while none has:
   * a wait that is about to resolve must see the state it waited for, not a later one.
   */
  const waiters = new Set<() => Promise<boolean>>();
  let skipper: Promise<void> | undefined;
  const anyReady = async () =>
    (await Promise.all([...waiters].map((ready) => ready().catch(() => true)))).some(Boolean);
  const skip = async () => {
    while (waiters.size > 0 && !closed && !clockMismatch) {
      await settled();
      if (waiters.size === 0 || closed) return;
      if (await anyReady()) {
        await Promise.race([activity.next(), realPause(5)]);
        continue;
      }
      if (clock.nextDueAt() === undefined) {
        // Waiting on something other than time (a hook): nothing to skip to yet.
        await Promise.race([activity.next(), realPause(20)]);
        continue;
      }
      await clock.skipToNext();
    }
  };
  const skippingWhile = async <Result>(work: Promise<Result>, ready: () => Promise<boolean>): Promise<Result> => {
    if (!autoSkip || clockMismatch) return Promise.race([work, mismatched]);
    waiters.add(ready);
    skipper ??= skip().finally(() => {
      skipper = undefined;
    });
    try {
      return await Promise.race([work, mismatched]);
    } finally {
      waiters.delete(ready);
    }
  };
  const ended = (runId: string) => async () => {
    const { status } = await raw.runs.get(runId);
    return status === 'completed' || status === 'failed' || status === 'cancelled';
  };

  const client = createClient({ world: clientView.world });
  const wrapHandle = <Output>(handle: RunHandle<Output>): RunHandle<Output> => ({
    ...handle,
    result: (resultOptions) => skippingWhile(handle.result(resultOptions), ended(handle.id)),
  });
  const environmentClient: Client = {
    ...client,
    start: async (workflow, input, startOptions) => wrapHandle(await client.start(workflow, input, startOptions)),
    getRun: async (id) => wrapHandle(await client.getRun(id)),
  };

  try {
    await startWorker();
  } catch (error) {
    // Bad workflows, say: nothing of the environment may outlive the failed call.
    if (ownsWorld) await raw.close();
    if (directory) await rm(directory, { recursive: true, force: true });
    throw error;
  }

  const waitForHook = (token: string, waitOptions: TestWaitOptions = {}) => {
    const find = () => raw.hooks.getByToken(token).catch(() => undefined);
    return skippingWhile(
      waitUntil(find, `a hook with token "${token}"`, waitOptions.timeoutMs),
      async () => (await find()) !== undefined,
    );
  };
  const waitForSleep = (runId: string, waitOptions: TestWaitOptions = {}) => {
    const find = () => pendingSleep(raw, runId, clock.now());
    return skippingWhile(
      waitUntil(find, `run ${runId} to sleep`, waitOptions.timeoutMs),
      async () => (await find()) !== undefined,
    );
  };
  /** Looks after every change the environment sees (and every 50 ms), until found or past the deadline. */
  const waitUntil = async <Found>(
    find: () => Promise<Found | undefined>,
    what: string,
    timeoutMs = 10_000,
  ): Promise<Found> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = await find();
      if (found !== undefined) return found;
      if (Date.now() >= deadline || closed) throw new TestWaitTimeoutError({ what, timeoutMs });
      await Promise.race([activity.next(), realPause(50)]);
    }
  };

  return {
    client: environmentClient,
    world: clientView.world,
    get worker() {
      return worker;
    },
    clock,
    faults,
    seed,
    waitForHook,
    waitForSleep,
    async resumeHookAsSleepEnds(runId, token, payload) {
      const [wait] = await Promise.all([waitForSleep(runId), waitForHook(token)]);
      await settled();
      const first = faults.draw() < 0.5 ? 'hook' : 'sleep';
      const deliver = () =>
        client.resumeHook(token, payload, { timeoutMs: 0 }).then(
          () => true,
          (error: unknown) => {
            if (HookNotFoundError.is(error)) return false;
            throw error;
          },
        );
      const fire = () => clock.advanceTo(wait.resumeAt);
      const [delivered] =
        first === 'hook' ? await Promise.all([deliver(), fire()]) : (await Promise.all([fire(), deliver()])).reverse();
      return { first, delivered: delivered as boolean, resumeAt: wait.resumeAt };
    },
    settled,
    restartWorker: () => restart(),
    exportRun: (runId) => exportRun(raw, runId),
    async close() {
      if (closed) return;
      await restarting;
      closed = true;
      await skipper;
      await worker.stop();
      if (ownsWorld) await raw.close();
      if (directory) await rm(directory, { recursive: true, force: true });
    },
  };
}
