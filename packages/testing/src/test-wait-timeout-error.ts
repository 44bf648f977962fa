const marker = Symbol.for('cairn.error.TestWaitTimeout');

/** A test environment's wait (`waitForSleep`, `waitForHook`) gave up: what it waited for never happened. */
export class TestWaitTimeoutError extends Error {
  override name = 'TestWaitTimeoutError';
  readonly code = 'TEST_WAIT_TIMEOUT';
  readonly timeoutMs: number;

  constructor(args: { what: string; timeoutMs: number }) {
    super(`Waited ${args.timeoutMs} ms of real time for ${args.what}, which did not happen`);
    this.timeoutMs = args.timeoutMs;
    Object.defineProperty(this, marker, { value: true });
  }

  static is(error: unknown): error is TestWaitTimeoutError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}
