import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import {
  CairnError,
  InvalidInputError,
  NotFoundError,
  type RunStatus,
  runStatuses,
  type World,
  WorldUnavailableError,
} from '@cairn/core/world';
import { cancelRun, followStream, resumeHook, runDetail, runList } from './api.js';

export interface DashboardOptions {
  world: World;
  /** 0 picks a free port. */
  port?: number;
  /** Default 127.0.0.1: the dashboard has no login, so it listens on loopback unless told otherwise. */
  host?: string;
  /** Hide and refuse the cancel and resume actions (the World cannot write, e.g. world-local opened read-only). */
  readOnly?: boolean;
}

export interface Dashboard {
  /** `http://host:port/` */
  url: string;
  /** Ends live connections and stops listening. Does not close the World. */
  close(): Promise<void>;
}

// The built files live in dist/; the page's static files ship beside it in dashboard/.
const staticDirectory = fileURLToPath(new URL('../dashboard/', import.meta.url));
const staticFiles: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/timeline.js': 'timeline.js',
  '/dom.js': 'dom.js',
  '/run-page.js': 'run-page.js',
  '/style.css': 'style.css',
};
const contentTypes: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
};
const maxBodyBytes = 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

function statusOf(error: unknown): { status: number; code: string; message: string } {
  if (error instanceof HttpError) return { status: error.status, code: error.code, message: error.message };
  if (CairnError.is(error)) {
    const status = NotFoundError.is(error)
      ? 404
      : InvalidInputError.is(error)
        ? 400
        : WorldUnavailableError.is(error)
          ? 503
          : 409;
    return { status, code: error.code, message: error.message };
  }
  return { status: 500, code: 'INTERNAL', message: error instanceof Error ? error.message : String(error) };
}

const sendJson = (response: ServerResponse, status: number, body: unknown) => {
  response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' });
  response.end(JSON.stringify(body));
};

async function readJsonBody(request: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size > maxBodyBytes) throw new HttpError(413, 'TOO_LARGE', `the body is over ${maxBodyBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  try {
    const body: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new Error('not an object');
    return body as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'INVALID_INPUT', 'the body must be a JSON object');
  }
}

/** Starts a server-sent events response; returns a writer and a signal that aborts when the client leaves. */
function openEvents(request: IncomingMessage, response: ServerResponse) {
  const controller = new AbortController();
  response.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'keep-alive',
  });
  response.write(': connected\n\n');
  // A comment now and then keeps proxies from closing an idle stream.
  const heartbeat = setInterval(() => response.write(': heartbeat\n\n'), 15_000);
  const stop = () => {
    clearInterval(heartbeat);
    controller.abort();
  };
  request.on('close', stop);
  return {
    signal: controller.signal,
    send: (event: string, data: unknown) => {
      if (!controller.signal.aborted) response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    end: () => {
      stop();
      response.end();
    },
  };
}

/**
 * Serves the dashboard: a few static files and a JSON API over one World. The run page
 * stays current through server-sent events fed by `events.watch` and live stream reads;
 * the run list polls.
 */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const { world, port = 0, host = '127.0.0.1', readOnly = false } = options;
  const live = new Set<() => void>();

  const route = async (request: IncomingMessage, response: ServerResponse) => {
    const url = new URL(request.url ?? '/', 'http://dashboard');
    const file = staticFiles[url.pathname];
    if (request.method === 'GET' && file) {
      const body = await readFile(`${staticDirectory}${file}`);
      response.writeHead(200, { 'content-type': contentTypes[file.split('.').pop()!]!, 'cache-control': 'no-store' });
      response.end(body);
      return;
    }
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    if (parts[0] !== 'api') throw new HttpError(404, 'NOT_FOUND', `no page at ${url.pathname}`);
    const [, resource, id, action, name] = parts;

    if (request.method === 'GET' && resource === 'info' && parts.length === 2) {
      return sendJson(response, 200, { world: world.name, readOnly, capabilities: world.capabilities });
    }
    if (request.method === 'GET' && resource === 'runs' && parts.length === 2) {
      const status = url.searchParams.get('status') || undefined;
      if (status !== undefined && !runStatuses.includes(status as RunStatus)) {
        throw new HttpError(400, 'INVALID_INPUT', `status "${status}" is not one of ${runStatuses.join(', ')}`);
      }
      const workflow = url.searchParams.get('workflow') || undefined;
      const limit = Math.min(1000, Math.max(1, Number(url.searchParams.get('limit') ?? 200) || 200));
      return sendJson(
        response,
        200,
        await runList(world, {
          limit,
          ...(status ? { status: status as RunStatus } : {}),
          ...(workflow ? { workflow } : {}),
        }),
      );
    }
    if (resource === 'runs' && id !== undefined) {
      if (request.method === 'GET' && parts.length === 3) return sendJson(response, 200, await runDetail(world, id));
      if (request.method === 'GET' && action === 'watch' && parts.length === 4) {
        let afterSeq = Number(url.searchParams.get('after') ?? 0) || 0;
        await world.runs.get(id);
        const events = openEvents(request, response);
        live.add(events.end);
        try {
          while (!events.signal.aborted) {
            await world.events.watch(id, afterSeq, events.signal);
            if (events.signal.aborted) break;
            const run = await world.runs.get(id);
            afterSeq = run.lastSeq;
            events.send('changed', { lastSeq: run.lastSeq, status: run.status });
          }
        } finally {
          live.delete(events.end);
          events.end();
        }
        return;
      }
      if (request.method === 'GET' && action === 'streams' && name !== undefined && parts.length === 5) {
        const fromIndex = Number(url.searchParams.get('from') ?? 0) || 0;
        await world.runs.get(id);
        const events = openEvents(request, response);
        live.add(events.end);
        try {
          await followStream(world, id, name, fromIndex, events.signal, (chunk) => events.send('chunk', chunk));
          events.send('end', {});
        } finally {
          live.delete(events.end);
          events.end();
        }
        return;
      }
      if (request.method === 'POST' && action === 'cancel' && parts.length === 4) {
        refuseWhenReadOnly();
        const body = await readJsonBody(request);
        const reason = typeof body.reason === 'string' && body.reason ? body.reason : 'cancelled from the dashboard';
        return sendJson(response, 200, await cancelRun(world, id, reason));
      }
    }
    if (request.method === 'POST' && resource === 'hooks' && id === 'resume' && parts.length === 3) {
      refuseWhenReadOnly();
      const body = await readJsonBody(request);
      if (typeof body.token !== 'string' || body.token === '') {
        throw new HttpError(400, 'INVALID_INPUT', 'token must be the hook token, a non-empty string');
      }
      return sendJson(response, 200, await resumeHook(world, body.token, body.payload ?? null));
    }
    throw new HttpError(404, 'NOT_FOUND', `no route ${request.method} ${url.pathname}`);
  };

  const refuseWhenReadOnly = () => {
    if (readOnly) {
      throw new HttpError(
        403,
        'READ_ONLY',
        'this dashboard is read-only: a worker holds the world-local directory; run `cairn worker --dashboard <port>` to act on its runs',
      );
    }
  };

  const server = createServer((request, response) => {
    route(request, response).catch((error: unknown) => {
      const { status, code, message } = statusOf(error);
      if (response.headersSent) response.end();
      else sendJson(response, status, { error: { code, message } });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    close: async () => {
      for (const end of [...live]) end();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
    },
  };
}
