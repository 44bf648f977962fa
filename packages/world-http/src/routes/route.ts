import type { World } from '@cairn/core/world';
import type { Role } from '../auth.js';
import type { QueueSessions } from '../queue-sessions.js';

/** What a route handler may use: the World, the request's lifetime and the server's settings. */
export interface RouteContext {
  world: World;
  /** Aborts when the client goes away or the server closes. */
  signal: AbortSignal;
  sessions: QueueSessions;
  /** The longest a long-poll may park before answering "nothing yet". */
  longPollMs: number;
}

/**
 * One endpoint, `POST /v1/<name>` with a JSON body. A `json` route answers `{ result }`; a
 * `lines` route answers newline-delimited JSON until the iterable ends, for live reads.
 */
export type Route =
  | { role: Role; kind: 'json'; handle(body: unknown, context: RouteContext): Promise<unknown> }
  | { role: Role; kind: 'lines'; handle(body: unknown, context: RouteContext): AsyncIterable<unknown> };

export const json = (role: Role, handle: (body: unknown, context: RouteContext) => Promise<unknown>): Route => ({
  role,
  kind: 'json',
  handle,
});

/** Waits for `promise` or `ms`, whichever first; true when the promise won. */
export async function raceTimeout(promise: Promise<unknown>, ms: number, signal: AbortSignal): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    onAbort = () => resolve(false);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}
