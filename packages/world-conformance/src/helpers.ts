import { type Run, RunNotFoundError, type World, type WorldEvent } from '@cairn/core/world';
import { describe, expect, it, type TestContext } from 'vitest';

/** The parts of the suite a World can opt out of, each with a reason. */
export type ConformanceSection =
  | 'events'
  | 'entity-rules'
  | 'views'
  | 'fences'
  | 'commit-time'
  | 'pagination'
  | 'queue'
  | 'streams'
  | 'bad-input'
  | 'lifecycle'
  | 'shared-store'
  | 'restart'
  | 'large-writes';

export interface ConformanceOptions {
  /** Shown in every describe title, e.g. `world-local`. */
  name: string;
  /** A fresh, isolated, empty World per call. The suite closes each one it gets. */
  createWorld: () => World | Promise<World>;
  /** Sections to leave out, each with the reason shown in the skipped tests' titles. */
  skip?: Partial<Record<ConformanceSection, string>>;
  /**
   * Opens a second handle on the same store as `world`, the way another process would.
   * Only the `shared-store` section uses it; without it that section is skipped.
   */
  openPeer?: (world: World) => World | Promise<World>;
  /**
   * Opens the store `world` used again, after the suite has closed `world`: a new World
   * over the same storage, as a restarted process would open it. Only the `restart`
   * section uses it; without it that section's tests skip, saying so. The suite closes the
   * World it returns. A World that keeps nothing across a restart (`durability: 'memory'`)
   * leaves this out.
   */
  reopen?: (world: World) => World | Promise<World>;
}

/** What a test body gets: its own World and a place to register teardown. */
export interface Scope {
  world: World;
  options: ConformanceOptions;
  context: TestContext;
  /**
   * Runs before the World is closed, last registered first. Tests use it to release
   * handlers they parked, because closing a World waits for in-flight handlers.
   */
  defer(cleanup: () => unknown): void;
  /** Skips the rest of the test at run time, e.g. when a capability rules it out. */
  skipBecause(reason: string): never;
}

export type ConformanceTest = (title: string, body: (scope: Scope) => Promise<void>, timeoutMs?: number) => void;

/**
 * Registers one section as a describe block. When the section is skipped every test is
 * still listed, with the reason in its title, so a report shows what was left out and why.
 */
export function section(
  options: ConformanceOptions,
  id: ConformanceSection,
  title: string,
  register: (test: ConformanceTest) => void,
): void {
  const skipReason = options.skip?.[id];
  describe(`${options.name} conformance: ${title}`, () => {
    register((testTitle, body, timeoutMs = 15_000) => {
      if (skipReason !== undefined) {
        it.skip(`${testTitle} [skipped: ${skipReason}]`, () => {});
        return;
      }
      it(testTitle, (context) => runScoped(options, context, body), timeoutMs);
    });
  });
}

async function runScoped(
  options: ConformanceOptions,
  context: TestContext,
  body: (scope: Scope) => Promise<void>,
): Promise<void> {
  const world = await options.createWorld();
  const cleanups: (() => unknown)[] = [];
  let outcome: { failed: false } | { failed: true; error: unknown } = { failed: false };
  try {
    await body({
      world,
      options,
      context,
      defer: (cleanup) => cleanups.push(cleanup),
      skipBecause: (reason) => context.skip(reason),
    });
  } catch (error) {
    outcome = { failed: true, error };
  }
  try {
    // All at once: a consumer's stop() waits for a handler that another cleanup releases.
    await within(
      Promise.allSettled(cleanups.map(async (cleanup) => cleanup())),
      5000,
      'the test cleanups (released handlers, stopped consumers)',
    );
    await within(world.close(), 5000, 'World.close()');
  } catch (error) {
    // A teardown failure matters only when the test itself passed; otherwise the test's
    // own failure is the one worth reading.
    if (!outcome.failed) throw error;
  }
  if (outcome.failed) throw outcome.error;
}

/** An error class of the contract, recognised through its cross-copy `is` check. */
export interface ErrorClass<Instance> {
  readonly name: string;
  is(error: unknown): error is Instance;
}

/** Awaits a rejection, checks its class with `is`, and returns it for further checks. */
export async function expectError<Instance>(
  action: Promise<unknown> | (() => unknown),
  errorClass: ErrorClass<Instance>,
): Promise<Instance> {
  let outcome: { ok: true; value: unknown } | { ok: false; error: unknown };
  try {
    const value = typeof action === 'function' ? await action() : await action;
    outcome = { ok: true, value };
  } catch (error) {
    outcome = { ok: false, error };
  }
  if (outcome.ok) {
    expect.fail(`expected ${errorClass.name}, but the call succeeded with ${preview(outcome.value)}`);
  }
  const { error } = outcome;
  if (!errorClass.is(error)) {
    const described = error instanceof Error ? `${error.name}: ${error.message}` : preview(error);
    expect.fail(`expected ${errorClass.name}, got ${described}`);
  }
  return error;
}

function preview(value: unknown): string {
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 200 ? `${text.slice(0, 197)}...` : text;
  } catch {
    return String(value);
  }
}

/** The whole log of a run, paged at the largest size. */
export async function readLog(world: World, runId: string): Promise<WorldEvent[]> {
  const events: WorldEvent[] = [];
  for (;;) {
    const page = await world.events.list(runId, { afterSeq: events.length, limit: 1000 });
    events.push(...page.data);
    if (!page.hasMore) return events;
    if (page.data.length === 0) throw new Error(`events.list of ${runId} said hasMore but returned nothing`);
  }
}

/** Every run in the World, following cursors. */
export async function readAllRuns(world: World): Promise<Run[]> {
  const runs: Run[] = [];
  let cursor: string | undefined;
  do {
    const page = await world.runs.list({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    runs.push(...page.data);
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined);
  return runs;
}

export interface RunSnapshot {
  run: Run | undefined;
  log: WorldEvent[];
}

/** The run view and its log, to compare before and after a call that must write nothing. */
export async function snapshotRun(world: World, runId: string): Promise<RunSnapshot> {
  try {
    return { run: await world.runs.get(runId), log: await readLog(world, runId) };
  } catch (error) {
    if (RunNotFoundError.is(error)) return { run: undefined, log: [] };
    throw error;
  }
}

export async function expectUnchanged(world: World, runId: string, before: RunSnapshot): Promise<void> {
  const after = await snapshotRun(world, runId);
  expect(after.log.length, `log length of ${runId}`).toBe(before.log.length);
  expect(after).toEqual(before);
}

export interface Deferred<Value> {
  promise: Promise<Value>;
  resolve(value: Value): void;
  reject(error: unknown): void;
  settled(): boolean;
}

/** A promise whose settling is in the test's hands, for signals from inside handlers. */
export function deferred<Value = void>(): Deferred<Value> {
  let resolve!: (value: Value) => void;
  let reject!: (error: unknown) => void;
  let done = false;
  const promise = new Promise<Value>((res, rej) => {
    resolve = (value) => {
      done = true;
      res(value);
    };
    reject = (error) => {
      done = true;
      rej(error);
    };
  });
  // A deferred nobody awaits must not turn into an unhandled rejection.
  promise.catch(() => {});
  return { promise, resolve, reject, settled: () => done };
}

/** Resolves with the promise's value, or fails with a message saying what never happened. */
export async function within<Value>(promise: Promise<Value>, ms: number, what: string): Promise<Value> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Spins until the wall clock is strictly past `instant`. Only ever a millisecond or two:
 * it is how a test gets a timestamp that is provably later than an event it has seen.
 */
export function clockPast(instant: number): number {
  const deadline = Date.now() + 1000;
  let now = Date.now();
  while (now <= instant) {
    if (now > deadline) throw new Error(`the clock did not pass ${instant}`);
    now = Date.now();
  }
  return now;
}

/** Lets already-scheduled work (promise reactions, immediates, I/O callbacks) run. */
export async function settleIo(world: World): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await world.runs.list({ limit: 1 });
  await new Promise((resolve) => setImmediate(resolve));
}

export * from './requests.js';
