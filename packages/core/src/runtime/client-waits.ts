import { HookWaitTimeoutError } from '../errors/hook-wait-timeout-error.js';
import { HookNotFoundError } from '../world/errors/hook-not-found-error.js';
import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import type { Hook } from '../world/schemas/entities.js';
import type { JsonValue } from '../world/schemas/primitives.js';
import type { World } from '../world/world.js';

/** How long `resumeHook` and `waitForHook` wait for a hook when not told. */
export const defaultHookWaitMs = 60_000;

/*
 * The World contract has no notification for "a hook with this token was created": hooks
 * are created by whichever process runs the workflow, and `events.watch` needs a run id,
 * which a caller holding only a token does not have. So a waiting caller polls
 * `hooks.getByToken`, starting at once and backing off to a ceiling. The first retries come
 * fast because the usual wait (a resume sent right after `start`) lasts milliseconds; the
 * ceiling bounds both the latency of a long wait and the load it puts on the World.
 */
const firstRetryMs = 5;
const retryCeilingMs = 250;

/** A whole number of milliseconds ≥ 0, or Infinity for no limit. */
export function checkTimeout(value: unknown, field: string): number {
  if (value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidInputError({ field, value, reason: 'must be a whole number of milliseconds ≥ 0, or Infinity' });
  }
  return value;
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
export function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export interface HookWait {
  /** Resolves with the live hook holding the token; rejects with `HookWaitTimeoutError` past the deadline. */
  next(): Promise<Hook>;
}

/**
 * One caller's wait for a token, across retries: a delivery that loses its hook between
 * the lookup and the append (the workflow disposed it) calls `next()` again and keeps the
 * same deadline and backoff.
 */
export function waitForToken(
  world: World,
  token: string,
  options: { timeoutMs?: number; signal?: AbortSignal },
): HookWait {
  const timeoutMs = checkTimeout(options.timeoutMs ?? defaultHookWaitMs, 'options.timeoutMs');
  const deadline = Date.now() + timeoutMs;
  let delayMs = 0;
  return {
    async next() {
      for (;;) {
        options.signal?.throwIfAborted();
        if (delayMs > 0) await pause(Math.max(0, Math.min(delayMs, deadline - Date.now())), options.signal);
        options.signal?.throwIfAborted();
        delayMs = Math.min(Math.max(delayMs * 2, firstRetryMs), retryCeilingMs);
        try {
          return await world.hooks.getByToken(token);
        } catch (error) {
          if (!HookNotFoundError.is(error)) throw error;
          if (Date.now() >= deadline) throw new HookWaitTimeoutError({ token, timeoutMs });
        }
      }
    },
  };
}

/** JSON equality that ignores object key order, which some stores (PostgreSQL's jsonb) do not keep. */
export function sameJson(left: JsonValue | undefined, right: JsonValue | undefined): boolean {
  if (left === right) return true;
  if (typeof left !== 'object' || typeof right !== 'object' || left === null || right === null) return false;
  if (Array.isArray(left) || Array.isArray(right)) {
    return (
      Array.isArray(left) &&
      Array.isArray(right) &&
      left.length === right.length &&
      left.every((item, index) => sameJson(item, right[index]))
    );
  }
  const leftKeys = Object.keys(left);
  if (leftKeys.length !== Object.keys(right).length) return false;
  return leftKeys.every((key) => Object.hasOwn(right, key) && sameJson(left[key], right[key]));
}
