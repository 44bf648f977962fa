import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import { InvalidInputError, type Logger, WorldUnavailableError } from '@cairn/core/world';
import { type WebSocket, WebSocketServer } from 'ws';
import type { Role, TokenTable } from './auth.js';
import { describeFault, errorToWire } from './error-mapping.js';
import { PayloadTooLargeError } from './errors/payload-too-large-error.js';
import { ProtocolError } from './errors/protocol-error.js';
import { parseJsonBody } from './request-body.js';
import type { JsonReplacer } from './serve-lines.js';
import { pathOf } from './wire.js';

/** Where clients open their call channel (a WebSocket), next to the routes it carries. */
export const channelPath = '/v1/channel';

/** How often each channel is pinged. */
const defaultHeartbeatMs = 15_000;
/**
 * Pings a channel may leave unanswered before it is cut (about a minute): long enough for a
 * client whose event loop a long synchronous step holds up, short enough that a half-open
 * channel does not hold its calls' resources for long.
 */
const maxUnansweredPings = 4;
/**
 * Calls one channel may have running at once, parked long-polls included; a call past it is
 * refused as unavailable (retryable). The client sends its calls as requests well before
 * that, so only a client that floods the server meets it.
 */
const defaultMaxCallsInFlight = 16_384;
/** Answers a client may leave unread before its channel is cut: it sends calls and reads nothing. */
const maxUnreadAnswerBytes = 64 * 1024 * 1024;

/** Why a call's wait ended: shared, since an abort without a reason builds an error with its stack. */
const channelClosed = new Error('the channel closed');
const callCancelled = new Error('the caller cancelled the call');

/** What the channel needs from the server around it. */
export interface ChannelHost {
  tokens: TokenTable;
  maxBodyBytes: number;
  logger: Required<Logger>;
  closing(): boolean;
  /** Throws the error every call gets while the server closes. */
  assertOpen(): void;
  /**
   * Answers one call to a JSON route as the HTTP route would; throws what the route throws.
   * `signal` makes the call's abort signal, only for a route that waits (a long-poll).
   */
  call(route: string, role: Role, body: unknown, signal: () => AbortSignal): Promise<unknown>;
  replacerFor(role: Role): JsonReplacer | undefined;
}

/** One open channel: who opened it, and what it is still answering. */
interface Peer {
  /** The `Authorization` header it opened with, checked again when the tokens change. */
  authorization: string;
  role: Role;
  /** The abort controllers of its calls that wait, by call id: a cancel frame or the channel's end aborts them. */
  waits: Map<number, AbortController>;
  inFlight: number;
  /** Pings sent since the last pong. */
  unansweredPings: number;
}

/**
 * The call channel: a WebSocket on which a client sends the same calls it would send as
 * `POST /v1/<route>`, each as one text frame `{ id, route, body }`, and gets each answer as
 * one frame `{ id, result }` or `{ id, status, error }` with the status and typed error the
 * HTTP route would have answered. A long-poll the caller gives up on is ended by the frame
 * `{ id, cancel: true }`, which gets no answer; one still waiting when its channel closes ends
 * as one whose connection dropped. A call costs one frame each way instead of a request and a
 * response, with their headers, parsing and per-request objects on both sides: most of what
 * an HTTP call costs on top of the World's own work.
 *
 * The bearer token is checked before the upgrade, and again for every open channel when the
 * tokens change: a channel whose token was dropped (or whose role changed) closes at once.
 * Every call is authorized by the channel's role. Answers go out as each call finishes, so a
 * slow call does not hold back the others.
 */
export class ChannelServer {
  private readonly peers = new Map<WebSocket, Peer>();
  private readonly sockets: WebSocketServer;
  private heartbeat: NodeJS.Timeout | undefined;

  private readonly heartbeatMs: number;
  private readonly maxCallsInFlight: number;

  /**
   * @param limits how often each channel is pinged (15 s) and how many calls it may run at
   *   once (16,384); other values only in tests.
   */
  constructor(
    private readonly host: ChannelHost,
    limits: { heartbeatMs?: number; maxCallsInFlight?: number } = {},
  ) {
    this.heartbeatMs = limits.heartbeatMs ?? defaultHeartbeatMs;
    this.maxCallsInFlight = limits.maxCallsInFlight ?? defaultMaxCallsInFlight;
    this.sockets = new WebSocketServer({
      noServer: true,
      // A frame over the body limit is still read (up to the ceiling) so that its call gets a
      // typed 413 like an oversized request; the ceiling keeps a frame from filling memory.
      maxPayload: host.maxBodyBytes + 64 * 1024,
      perMessageDeflate: false,
      clientTracking: false,
    });
  }

  /** The `upgrade` listener of the HTTP server. Answers an upgrade to any other path with a typed 404. */
  readonly upgrade = (request: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', () => socket.destroy());
    try {
      if (pathOf(request.url) !== channelPath) {
        throw new ProtocolError({
          code: 'ROUTE_NOT_FOUND',
          message: 'No upgrade here; the call channel is /v1/channel',
        });
      }
      this.host.assertOpen();
      const authorization = request.headers.authorization ?? '';
      const role = this.host.tokens.authenticate(authorization);
      this.sockets.handleUpgrade(request, socket, head, (channel) => this.accept(channel, authorization, role));
    } catch (error) {
      refuseUpgrade(socket, error);
    }
  };

  /** Closes every channel whose token no longer grants the role it opened with. */
  recheckTokens(): void {
    for (const [channel, peer] of this.peers) {
      let role: Role | undefined;
      try {
        role = this.host.tokens.authenticate(peer.authorization);
      } catch {
        role = undefined;
      }
      if (role !== peer.role) channel.close(4401, 'the token is no longer accepted');
    }
  }

  /** Closes every channel once its calls are answered, or after `graceMs`. */
  async closeAll(graceMs: number): Promise<void> {
    clearInterval(this.heartbeat);
    this.heartbeat = undefined;
    // Long-polls answer now ("nothing yet"), as those on requests do when the server closes.
    for (const peer of this.peers.values()) endWaits(peer);
    const closed = [...this.peers.keys()].map(
      (channel) => new Promise<void>((resolve) => channel.once('close', () => resolve())),
    );
    for (const [channel, peer] of this.peers) if (peer.inFlight === 0) channel.close(1001, 'the server is closing');
    const grace = setTimeout(() => {
      for (const channel of this.peers.keys()) channel.terminate();
    }, graceMs);
    await Promise.all(closed);
    clearTimeout(grace);
  }

  private accept(channel: WebSocket, authorization: string, role: Role): void {
    // Upgraded while the server began closing: closeAll did not see it.
    if (this.host.closing()) return void channel.close(1001, 'the server is closing');
    const peer: Peer = { authorization, role, waits: new Map(), inFlight: 0, unansweredPings: 0 };
    this.peers.set(channel, peer);
    channel.on('message', (data, isBinary) => void this.answer(channel, peer, data as Buffer, isBinary));
    channel.on('pong', () => {
      peer.unansweredPings = 0;
    });
    // A protocol fault from the client (a bad frame, a frame over the ceiling): ws closes it.
    channel.on('error', () => channel.terminate());
    channel.on('close', () => {
      this.peers.delete(channel);
      endWaits(peer);
    });
    this.heartbeat ??= setInterval(() => this.ping(), this.heartbeatMs).unref();
  }

  private async answer(channel: WebSocket, peer: Peer, data: Buffer, isBinary: boolean): Promise<void> {
    let id: number | null = null;
    let answer: string;
    peer.inFlight++;
    try {
      const frame = frameOf(data, isBinary, this.host.maxBodyBytes);
      id = frame.id;
      const { route, body } = callOf(frame.fields);
      // The caller gave up on a call that waits: it gets no answer.
      if (route === undefined) return void peer.waits.get(frame.id)?.abort(callCancelled);
      this.host.assertOpen();
      if (peer.inFlight > this.maxCallsInFlight) {
        throw new WorldUnavailableError({
          world: 'http server',
          location: 'the call channel',
          reason: `this channel already has ${this.maxCallsInFlight} calls running; send more as requests`,
        });
      }
      const callId = id;
      const signal = () => {
        const wait = new AbortController();
        peer.waits.set(callId, wait);
        if (channel.readyState !== channel.OPEN) wait.abort(channelClosed);
        return wait.signal;
      };
      const result = await this.host.call(route, peer.role, body, signal);
      answer = JSON.stringify({ id, result: result ?? null }, this.host.replacerFor(peer.role));
    } catch (error) {
      const { status, body } = errorToWire(error);
      if (status >= 500 && body.code === 'INTERNAL_ERROR') {
        // Never the frame: it may carry a payload.
        this.host.logger.warn(`world-http: a call on the channel failed: ${describeFault(error)}`, {
          error: describeFault(error),
        });
      }
      answer = JSON.stringify({ id, status, error: body }, this.host.replacerFor(peer.role));
    } finally {
      peer.inFlight--;
      if (id !== null) peer.waits.delete(id);
    }
    if (channel.readyState === channel.OPEN) {
      if (channel.bufferedAmount > maxUnreadAnswerBytes) channel.terminate();
      else channel.send(answer);
    }
    if (peer.inFlight === 0 && this.host.closing()) channel.close(1001, 'the server is closing');
  }

  private ping(): void {
    for (const [channel, peer] of this.peers) {
      // Half-open (the client's machine vanished) or stuck: it holds nothing worth waiting for.
      if (peer.unansweredPings >= maxUnansweredPings) channel.terminate();
      else {
        peer.unansweredPings++;
        channel.ping();
      }
    }
  }
}

/** Ends every wait of the channel's calls, as a closed connection ends a request's. */
function endWaits(peer: Peer): void {
  for (const wait of peer.waits.values()) wait.abort(channelClosed);
}

/**
 * A frame's fields and its call id, or the typed error its sender gets back: with no id when
 * the frame has none to answer to.
 */
function frameOf(
  data: Buffer,
  isBinary: boolean,
  maxBodyBytes: number,
): { id: number; fields: Record<string, unknown> } {
  if (isBinary)
    throw new InvalidInputError({ field: 'frame', value: 'binary', reason: 'must be a text frame of JSON' });
  if (data.length > maxBodyBytes) throw new PayloadTooLargeError({ limitBytes: maxBodyBytes });
  const frame = parseJsonBody(data);
  if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
    throw new InvalidInputError({ field: 'frame', value: frame, reason: 'must be an object { id, route, body }' });
  }
  const fields = frame as Record<string, unknown>;
  const { id } = fields;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
    throw new InvalidInputError({ field: 'frame.id', value: id, reason: 'must be a positive whole number' });
  }
  return { id, fields };
}

/** What a frame with an id asks: a call of a route, or (no route) to cancel call `id`. */
function callOf(fields: Record<string, unknown>): { route: string | undefined; body: unknown } {
  const { route, body, cancel } = fields;
  if (cancel !== undefined) {
    if (cancel !== true) throw new InvalidInputError({ field: 'frame.cancel', value: cancel, reason: 'must be true' });
    return { route: undefined, body: undefined };
  }
  if (typeof route !== 'string') {
    throw new InvalidInputError({ field: 'frame.route', value: route, reason: 'must be a route name' });
  }
  return { route, body };
}

/** A typed HTTP answer on a socket that will not be upgraded, then the socket closes. */
function refuseUpgrade(socket: Duplex, error: unknown): void {
  const { status, body } = errorToWire(error);
  const text = JSON.stringify({ error: body });
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}\r\n` +
      'content-type: application/json; charset=utf-8\r\n' +
      `content-length: ${Buffer.byteLength(text)}\r\n` +
      'connection: close\r\n\r\n' +
      text,
  );
}
