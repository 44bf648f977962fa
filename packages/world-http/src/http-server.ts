import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type Client, createClient } from '@cairn/core';
import { type Logger, resolveLogger, type World, WorldUnavailableError } from '@cairn/core/world';
import { authorize, type Role, type TokenGrant, TokenTable } from './auth.js';
import { ChannelServer } from './channel-server.js';
import { describeFault, errorToWire } from './error-mapping.js';
import { ClientGoneError } from './errors/client-gone-error.js';
import { ProtocolError } from './errors/protocol-error.js';
import { QueueSessions } from './queue-sessions.js';
import { webhookTokenRedactor } from './redaction.js';
import { bodyWasRead, parseJsonBody, readBody } from './request-body.js';
import { handleWebhook, type Route, type RouteContext, routes, webhookPathPrefix } from './routes/index.js';
import { type JsonReplacer, serveLines } from './serve-lines.js';
import { guardSlowHeaders } from './slow-headers.js';
import { pathOf } from './wire.js';

export interface WorldServerOptions {
  /** The World to serve. The server never closes it: its owner does. */
  world: World;
  /** Accepted bearer tokens; several may be valid at once. Replace them later with `setTokens`. */
  tokens: readonly TokenGrant[];
  /** Largest request body. Default: room for the World's largest payload or stream chunk, JSON-escaped. */
  maxBodyBytes?: number;
  /** Time a client has to send its request headers. Default 10 s. */
  headersTimeoutMs?: number;
  /** Time a client has to send its request body. Default 30 s. */
  bodyTimeoutMs?: number;
  /** Idle keep-alive connections close after this. Default 5 s. */
  keepAliveTimeoutMs?: number;
  /** The longest a long-poll (watch, queue poll) parks before answering "nothing yet". Default 25 s. */
  longPollMs?: number;
  /** A queue session nobody polls for this long ends and hands back every message it holds. Default 60 s. */
  sessionIdleMs?: number;
  /**
   * A queue session whose client has not polled for this long (a live client always has a
   * poll on its way; a crashed, killed or cut-off one does not) retires: it takes no more
   * messages and hands back those its client never received. Those its client holds stay
   * the client's until settled, their leases run out, or `sessionIdleMs` passes. Default 5 s;
   * never longer than `sessionIdleMs`.
   */
  sessionReconnectMs?: number;
  /** Connections beyond this are refused at accept time. Default 4096. */
  maxConnections?: number;
  /**
   * The public prefix of webhook URLs, e.g. `https://cairn.example.com/v1/webhooks`. Set it
   * when clients reach the server at another address than the one senders should use.
   */
  webhookBaseUrl?: string;
  /** Must match the workers' `runLease` setting: webhook deliveries wake runs the same way. Default true. */
  runLease?: boolean;
  /**
   * Where server faults (a request that failed with an unexpected error) are reported, at
   * `warn`. Never receives tokens or payloads. Default: the console at `warn` (or
   * `CAIRN_LOG_LEVEL`); `false` silences it. A value that is not a logger throws
   * InvalidInputError naming `options.logger`.
   */
  logger?: Logger | false;
}

export interface WorldServer {
  /** A Node request listener, to mount the World inside an existing HTTP server. */
  readonly handler: RequestListener;
  /**
   * A Node `upgrade` listener for the call channel (a WebSocket at `/v1/channel` that carries
   * the short calls with less overhead than a request each). Mount it next to `handler`
   * (`server.on('upgrade', worldServer.upgrade)`); without it, clients make every call as a
   * request, which works the same, only slower. It answers an upgrade to any other path 404.
   */
  readonly upgrade: (request: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Starts a server of its own. Port 0 (the default) picks a free port. */
  listen(options?: { port?: number; host?: string }): Promise<{ url: string }>;
  /** Swaps the accepted tokens at once: add the new token, move clients over, then drop the old one. */
  setTokens(tokens: readonly TokenGrant[]): void;
  /** Ends long-polls and live reads, hands back undelivered queue messages, and closes every connection. */
  close(): Promise<void>;
}

/** Why a request's signal aborts: the response closed (sent, or the client went away). */
const requestEnded = new Error('the request ended');

/** Serves `world` over HTTP to `createHttpWorld` clients. See the package README for the protocol. */
export function createWorldServer(options: WorldServerOptions): WorldServer {
  const { world } = options;
  const tokens = new TokenTable(options.tokens);
  const { maxPayloadBytes } = world.capabilities;
  const maxChunkBytes = world.capabilities.streams.maxChunkBytes;
  const maxBodyBytes = options.maxBodyBytes ?? Math.max(maxPayloadBytes, 6 * maxChunkBytes) + 64 * 1024;
  const bodyTimeoutMs = options.bodyTimeoutMs ?? 30_000;
  const longPollMs = options.longPollMs ?? 25_000;
  const logger = resolveLogger(options.logger, 'options.logger');
  const sessions = new QueueSessions(world, options.sessionIdleMs ?? 60_000, options.sessionReconnectMs ?? 5_000);
  const live = new Set<AbortController>();
  let webhookClient: Client | undefined;
  let closing = false;
  let httpServer: Server | undefined;

  const capabilities = () => ({
    name: world.name,
    // Every client of this server sees one store, and long-polls deliver changes as they happen.
    capabilities: { ...world.capabilities, sharedAcrossProcesses: true, notifications: 'push' },
    webhookBaseUrl: options.webhookBaseUrl ?? null,
  });

  const closingError = () =>
    new WorldUnavailableError({ world: world.name, location: 'http server', reason: 'the server is closing' });

  /** The route called `name`, or a typed 404. */
  function routeNamed(name: string, path: string): Route {
    const route = routes.get(name);
    if (!route)
      throw new ProtocolError({ code: 'ROUTE_NOT_FOUND', message: `No route ${JSON.stringify(path.slice(0, 100))}` });
    return route;
  }

  /** What a route may use, with the abort signal made only if the route asks for it. */
  const routeContext = (signal: () => AbortSignal): RouteContext => ({
    world,
    get signal() {
      return signal();
    },
    sessions,
    longPollMs,
  });

  const channels = new ChannelServer({
    tokens,
    maxBodyBytes,
    logger,
    closing: () => closing,
    assertOpen() {
      if (closing) throw closingError();
    },
    // Only the routes that answer one JSON value: live reads stream, so they stay requests.
    async call(name, role, body, signal) {
      const route = routeNamed(name, `/v1/${name}`);
      if (route.kind !== 'json') {
        throw new ProtocolError({ code: 'ROUTE_NOT_FOUND', message: `Route ${name} streams: call it as a request` });
      }
      authorize(name, route.role, role);
      return route.handle(body, routeContext(signal));
    },
    replacerFor,
  });

  async function serve(
    request: IncomingMessage,
    response: ServerResponse,
    signal: () => AbortSignal,
    caller: { role?: Role },
  ): Promise<void> {
    const path = pathOf(request.url);
    if (closing) throw closingError();
    if (path.startsWith(webhookPathPrefix)) {
      if (request.method !== 'POST') throw methodNotAllowed(request.method, 'POST');
      const client = () => (webhookClient ??= createClient({ world, runLease: options.runLease ?? true }));
      const limits = { maxPayloadBytes, bodyTimeoutMs };
      await handleWebhook(world, client, path.slice(webhookPathPrefix.length), request, limits);
      return sendJson(response, 202, { accepted: true });
    }
    const role = tokens.authenticate(request.headers.authorization);
    caller.role = role;
    if (path === '/v1/capabilities') {
      if (request.method !== 'GET') throw methodNotAllowed(request.method, 'GET');
      return sendJson(response, 200, { result: capabilities() });
    }
    const name = path.startsWith('/v1/') ? path.slice(4) : '';
    const route = routeNamed(name, path);
    if (request.method !== 'POST') throw methodNotAllowed(request.method, 'POST');
    authorize(name, route.role, role);
    const body = parseJsonBody(await readBody(request, maxBodyBytes, bodyTimeoutMs));
    const context = routeContext(signal);
    const replacer = replacerFor(role);
    if (route.kind === 'lines') return serveLines(response, route.handle(body, context), signal(), replacer);
    const result = await route.handle(body, context);
    sendJson(response, 200, { result: result ?? null }, {}, replacer);
  }

  const handler: RequestListener = (request, response) => {
    // Made only for a route that waits (long-polls, live reads): a controller, its signal,
    // a close listener and the abort event at the end were a measurable share of every
    // short request's cost.
    let controller: AbortController | undefined;
    const signal = () => {
      if (controller === undefined) {
        const made = new AbortController();
        controller = made;
        // A response that already closed (sent, or its client went away) has nothing to wait for.
        if (response.destroyed) made.abort(requestEnded);
        else {
          live.add(made);
          response.once('close', () => {
            live.delete(made);
            // A shared reason: aborting without one builds a DOMException, stack and all.
            made.abort(requestEnded);
          });
        }
      }
      return controller.signal;
    };
    // The role, once known: an error answer to a read token is redacted like any other answer.
    const caller: { role?: Role } = {};
    serve(request, response, signal, caller).catch((error: unknown) => {
      if (ClientGoneError.is(error)) return void response.destroy();
      const { status, body } = errorToWire(error);
      if (status >= 500 && body.code === 'INTERNAL_ERROR') {
        const path = pathOf(request.url);
        // A webhook path carries its token, so it is logged without it.
        const shown = path.startsWith(webhookPathPrefix) ? `${webhookPathPrefix}(token)` : path.slice(0, 100);
        logger.warn(`world-http: ${request.method} ${shown} failed: ${describeFault(error)}`, {
          method: request.method,
          path: shown,
          error: describeFault(error),
        });
      }
      if (response.headersSent) return void response.destroy();
      // A body we did not read would otherwise have to be drained before the next request.
      const unread = !bodyWasRead(request);
      sendJson(response, status, { error: body }, unread ? { connection: 'close' } : {}, replacerFor(caller.role));
    });
  };

  return {
    handler,
    upgrade: channels.upgrade,
    setTokens(grants) {
      tokens.replace(grants);
      channels.recheckTokens();
    },
    async listen({ port = 0, host = '127.0.0.1' } = {}) {
      const headersTimeout = options.headersTimeoutMs ?? 10_000;
      const server = createServer(
        {
          headersTimeout,
          // The body has its own, typed timeout; this one only catches what slips past it.
          requestTimeout: headersTimeout + bodyTimeoutMs + 1000,
          keepAliveTimeout: options.keepAliveTimeoutMs ?? 5000,
          connectionsCheckingInterval: Math.min(1000, headersTimeout),
          maxHeaderSize: 16 * 1024,
        },
        handler,
      );
      server.maxConnections = options.maxConnections ?? 4096;
      guardSlowHeaders(server, headersTimeout, options.keepAliveTimeoutMs ?? 5000);
      server.on('upgrade', channels.upgrade);
      httpServer = server;
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const address = server.address() as AddressInfo;
      const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
      return { url: `http://${hostPart}:${address.port}` };
    },
    async close() {
      if (closing) return;
      closing = true;
      for (const controller of live) controller.abort();
      // Calls already running on a channel get the same moment to answer as requests do.
      const channelsClosed = channels.closeAll(2000);
      await sessions.closeAll();
      const server = httpServer;
      if (!server) return void (await channelsClosed);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      // Requests still running get a moment to answer; then every connection goes.
      const grace = setTimeout(() => server.closeAllConnections(), 2000);
      await Promise.all([closed, channelsClosed]);
      clearTimeout(grace);
    },
  };
}

function methodNotAllowed(method: string | undefined, allowed: string): ProtocolError {
  return new ProtocolError({
    code: 'METHOD_NOT_ALLOWED',
    message: `Method ${String(method).slice(0, 20)} is not allowed here; use ${allowed}`,
  });
}

/** Read tokens never see a webhook token: holding one is enough to resume its hook, a write. */
function replacerFor(role: Role | undefined): JsonReplacer | undefined {
  return role === 'read' ? webhookTokenRedactor : undefined;
}

function sendJson(
  response: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
  replacer?: JsonReplacer,
): void {
  const text = JSON.stringify(value, replacer);
  response.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  });
  response.end(text);
}
