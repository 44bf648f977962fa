import { hasErrorMarker, markError } from '../world/errors/cairn-error.js';
import { HookNotFoundError } from '../world/errors/hook-not-found-error.js';

const marker = Symbol.for('cairn.error.HookWaitTimeout');

/**
 * `client.resumeHook` or `client.waitForHook` waited `timeoutMs` for a live hook holding
 * `token`, and none appeared: no run has reached a `createHook` with that token (yet), or
 * the one that did has disposed it or ended. Nothing was delivered. A `HookNotFoundError`
 * too, so code that handles a missing hook handles this.
 */
export class HookWaitTimeoutError extends HookNotFoundError {
  override readonly code = 'HOOK_WAIT_TIMEOUT';
  readonly token: string;
  readonly timeoutMs: number;

  constructor(args: { token: string; timeoutMs: number }) {
    super({ token: args.token });
    this.message =
      `No live hook held token ${JSON.stringify(args.token)} within ${args.timeoutMs} ms of waiting; ` +
      'check that a running workflow creates a hook with this token and that a worker runs that workflow';
    this.token = args.token;
    this.timeoutMs = args.timeoutMs;
    markError(this, marker);
  }

  static override is(error: unknown): error is HookWaitTimeoutError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), token: this.token, timeoutMs: this.timeoutMs };
  }
}
