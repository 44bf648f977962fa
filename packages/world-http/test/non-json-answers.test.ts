import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { CairnError, type World, WorldUnavailableError } from '@cairn/core/world';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpWorld, type HttpWorld, ProtocolError } from '../src/index.js';
import { type GatewayProxy, worldBehindGatewayProxy } from './gateway-proxy.js';
import { tokens } from './helpers.js';

/** What a sign-in portal or a misrouted virtual host answers: a 200 with a web page. */
const page = '<!doctype html><html><body><h1>Please sign in</h1></body></html>';

/** A loopback server that answers every request 200 with `body` as `contentType`. */
async function answering(contentType: string, body: string): Promise<{ url: string; server: Server }> {
  const server = createServer((incoming, outgoing) => {
    incoming.resume();
    outgoing.writeHead(200, { 'content-type': contentType });
    outgoing.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** The error `attempt` rejects with; fails the test if it resolves. */
async function failureOf(attempt: Promise<unknown>): Promise<unknown> {
  return attempt.then(
    (value) => {
      throw new Error(`expected a failure, got ${JSON.stringify(value)}`);
    },
    (error: unknown) => error,
  );
}

function expectProtocolError(error: unknown, detail: RegExp): void {
  expect(ProtocolError.is(error), String(error)).toBe(true);
  expect(CairnError.is(error)).toBe(true);
  expect((error as ProtocolError).retryable).toBe(false);
  expect((error as ProtocolError).message).toMatch(detail);
  // The page itself stays out of the message: it is not the server's to quote.
  expect((error as ProtocolError).message).not.toContain('sign in');
}

describe('world-http: a 200 answer that is not the server speaking', () => {
  it('connecting to a server that answers a web page fails with ProtocolError', async () => {
    const html = await answering('text/html; charset=utf-8', page);
    try {
      const error = await failureOf(createHttpWorld({ url: html.url, token: tokens.worker }));
      expectProtocolError(error, /200.*text\/html/);
    } finally {
      await stop(html.server);
    }
  });

  it('JSON without a result, or no body at all, is a ProtocolError too', async () => {
    for (const [contentType, body] of [
      ['application/json', '{"status":"ok"}'],
      ['application/json', 'null'],
      ['text/plain', ''],
    ] as const) {
      const odd = await answering(contentType, body);
      try {
        expectProtocolError(await failureOf(createHttpWorld({ url: odd.url, token: tokens.worker })), /200/);
      } finally {
        await stop(odd.server);
      }
    }
  });
});

describe('world-http: a proxy that answers a page instead of the server', () => {
  let backing: World;
  let proxy: GatewayProxy;
  let client: HttpWorld;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ backing, proxy, client, close } = await worldBehindGatewayProxy());
  });
  afterAll(() => close());

  it('reads and writes fail with ProtocolError rather than a TypeError or SyntaxError', async () => {
    const { run } = await backing.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    for (const route of ['runs.list', 'runs.get', 'events.create']) proxy.failing.set(route, 200);
    try {
      for (const attempt of [
        client.runs.list(),
        client.runs.get(run.runId),
        client.events.create(run.runId, { eventType: 'run_started' }),
      ]) {
        expectProtocolError(await failureOf(attempt), /200.*text\/html/);
      }
    } finally {
      proxy.failing.clear();
    }
    expect((await client.runs.get(run.runId)).runId).toBe(run.runId);
  });

  it('a live stream read ends with ProtocolError instead of reconnecting to the page for ever', async () => {
    const { run } = await backing.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    await backing.streams.write(run.runId, 'out', 'one');
    proxy.refused.clear();
    proxy.failing.set('streams.read', 200);
    try {
      const reading = (async () => {
        for await (const _chunk of client.streams.read(run.runId, 'out')) {
          // Nothing arrives: the proxy answers a page.
        }
      })();
      const error = await failureOf(reading);
      expectProtocolError(error, /200/);
      expect(WorldUnavailableError.is(error)).toBe(false);
      expect(proxy.refused.get('streams.read')).toBe(1);
    } finally {
      proxy.failing.clear();
    }
  });
});
