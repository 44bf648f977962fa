import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Drops a connection that has not delivered a request's headers within `headersTimeoutMs`
 * of opening, or of its previous response (plus the keep-alive allowance). Node's own
 * `headersTimeout` is checked only every `connectionsCheckingInterval`; this guard is exact,
 * and also covers a keep-alive connection that starts its next request and then stalls.
 * Half-open peers are found by TCP keepalive. Each connection has one timer (two, once its
 * first response is sent), re-armed with `refresh()` rather than made anew per request;
 * it does nothing while a request is in progress.
 */
export function guardSlowHeaders(server: Server, headersTimeoutMs: number, keepAliveTimeoutMs: number): void {
  interface Guard {
    timer: NodeJS.Timeout;
    /** Closes the connection unless a request is in progress. */
    expire: () => void;
    /** Requests received and not yet answered. */
    busy: number;
    /** The timer allows for the keep-alive wait (armed after a response). */
    between: boolean;
  }
  const guards = new WeakMap<Socket, Guard>();
  server.on('connection', (socket: Socket) => {
    socket.setKeepAlive(true, 15_000);
    const expire = () => {
      if (guard.busy === 0) socket.destroy();
    };
    const guard: Guard = { timer: setTimeout(expire, headersTimeoutMs).unref(), expire, busy: 0, between: false };
    guards.set(socket, guard);
    socket.once('close', () => clearTimeout(guard.timer));
  });
  function answered(this: ServerResponse) {
    const socket = this.req.socket;
    const guard = guards.get(socket);
    if (guard === undefined || socket.destroyed) return;
    guard.busy -= 1;
    if (guard.busy > 0) return;
    if (guard.between) guard.timer.refresh();
    else {
      clearTimeout(guard.timer);
      guard.timer = setTimeout(guard.expire, keepAliveTimeoutMs + headersTimeoutMs).unref();
      guard.between = true;
    }
  }
  // An upgraded connection (the call channel) is no longer HTTP: its headers came in time, and
  // from then on the channel's own heartbeat finds a peer that went away.
  server.on('upgrade', (request: IncomingMessage) => {
    const guard = guards.get(request.socket);
    if (guard === undefined) return;
    clearTimeout(guard.timer);
    guards.delete(request.socket);
  });
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const guard = guards.get(request.socket);
    if (guard === undefined) return;
    guard.busy += 1;
    response.on('finish', answered);
  });
}
