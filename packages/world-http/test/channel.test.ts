import { createServer, type Server } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { WorldUnavailableError } from '@cairn/core/world';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpWorld, createWorldServer, ForbiddenError, type HttpWorld, UnauthorizedError } from '../src/index.js';
import { localWorld, openRawChannel, serve, tokens } from './helpers.js';

/** A world server mounted in a server of the test's own, which counts what reaches it. */
async function countingServer(options: { upgrades: boolean }) {
  const backing = await localWorld();
  const worldServer = createWorldServer({
    world: backing,
    tokens: [
      { token: tokens.worker, role: 'worker' },
      { token: tokens.read, role: 'read' },
    ],
  });
  const requests: string[] = [];
  let upgrades = 0;
  const server: Server = createServer((request, response) => {
    requests.push(request.url ?? '');
    worldServer.handler(request, response);
  });
  if (options.upgrades) {
    server.on('upgrade', (request, socket, head) => {
      upgrades++;
      worldServer.upgrade(request, socket, head);
    });
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clients: HttpWorld[] = [];
  cleanups.push(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await worldServer.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await backing.close();
  });
  return {
    backing,
    worldServer,
    requests,
    upgrades: () => upgrades,
    async client(token = tokens.worker) {
      const client = await createHttpWorld({ url, token });
      clients.push(client);
      return client;
    },
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

/** Calls `runs.list` until the channel carries it: the first calls go as requests while it opens. */
async function untilOnChannel(client: HttpWorld, requests: string[]): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const before = requests.length;
    await client.runs.list({ limit: 1 });
    if (requests.length === before) return;
    if (Date.now() > deadline) throw new Error('the call channel never opened');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('world-http: the call channel', () => {
  it('carries appends, reads and a parked watch once open, on one connection', async () => {
    const served = await countingServer({ upgrades: true });
    const client = await served.client();
    await untilOnChannel(client, served.requests);
    const requestsBefore = served.requests.length;
    const { run } = await client.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    const watched = client.events.watch(run.runId, run.lastSeq);
    await client.events.create(run.runId, { eventType: 'run_started' });
    // It answers once the event is in (with the tail, where the World reports one).
    expect([undefined, 2]).toContain((await watched)?.lastSeq);
    expect((await client.events.list(run.runId)).data.map((event) => event.eventType)).toEqual([
      'run_created',
      'run_started',
    ]);
    // What landed is what the World behind the server holds.
    expect((await served.backing.runs.get(run.runId)).status).toBe('running');
    expect(served.requests.length).toBe(requestsBefore);
    expect(served.upgrades()).toBe(1);
  });

  it('answers each call with the error class the World threw, fields and all', async () => {
    const served = await countingServer({ upgrades: true });
    const client = await served.client();
    await untilOnChannel(client, served.requests);
    const requestsBefore = served.requests.length;
    const missing = await client.runs.get('wrun_missing').catch((error: unknown) => error);
    expect((missing as { code?: string }).code).toBe('RUN_NOT_FOUND');
    expect((missing as { runId?: string }).runId).toBe('wrun_missing');
    const { run } = await client.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    const fenced = await client.events
      .create(run.runId, { eventType: 'run_started' }, { lastKnownEventId: 'evt_999999999999' })
      .catch((error: unknown) => error);
    expect((fenced as { code?: string }).code).toBe('FENCE_CONFLICT');
    expect((fenced as { currentTail?: { seq: number } }).currentTail?.seq).toBe(1);
    expect(served.requests.length).toBe(requestsBefore);
  });

  it('a read token gets a channel that reads but cannot write', async () => {
    const served = await countingServer({ upgrades: true });
    const reader = await served.client(tokens.read);
    await untilOnChannel(reader, served.requests);
    const refused = await reader.events
      .create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } })
      .catch((error: unknown) => error);
    expect(ForbiddenError.is(refused)).toBe(true);
    expect((await served.backing.runs.list()).data).toHaveLength(0);
  });

  it('works the same through a server that passes no upgrades, as requests', async () => {
    const served = await countingServer({ upgrades: false });
    const client = await served.client();
    for (let index = 0; index < 5; index++) {
      await client.events.create(null, { eventType: 'run_created', eventData: { workflowName: `w${index}` } });
    }
    expect((await client.runs.list()).data).toHaveLength(5);
    expect(served.requests.filter((url) => url === '/v1/events.create')).toHaveLength(5);
  });

  it('closes a channel whose token is dropped: the next call is refused, not retried', async () => {
    const served = await countingServer({ upgrades: true });
    const client = await served.client();
    await untilOnChannel(client, served.requests);
    served.worldServer.setTokens([{ token: tokens.read, role: 'read' }]);
    // The channel closes at once; whichever way the next call goes, the token is refused.
    const refused = await client.runs.list().catch((error: unknown) => error);
    const again = await client.runs.list().catch((error: unknown) => error);
    expect([refused, again].every((error) => UnauthorizedError.is(error) || WorldUnavailableError.is(error))).toBe(
      true,
    );
    expect(UnauthorizedError.is(again)).toBe(true);
  });

  it('a closing server ends a watch parked on the channel, and the client waits for the next server', async () => {
    const served = await countingServer({ upgrades: true });
    const client = await served.client();
    await untilOnChannel(client, served.requests);
    const { run } = await client.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    const stop = new AbortController();
    const watched = client.events.watch(run.runId, run.lastSeq, stop.signal);
    // Let the watch reach the server before it closes.
    await client.runs.list({ limit: 1 });
    // It answers the parked watch rather than waiting out the 2 s grace for calls still running.
    const closeStarted = performance.now();
    await served.worldServer.close();
    expect(performance.now() - closeStarted).toBeLessThan(1500);
    // The watch keeps retrying an unreachable server until its caller gives up.
    stop.abort();
    expect(await watched).toBeUndefined();
  });

  it('keeps a channel open past the deadlines the server holds HTTP connections to', async () => {
    const backing = await localWorld();
    // Requests must finish their headers in 300 ms, and Node cuts one running 1.6 s.
    const served = await serve(backing, { headersTimeoutMs: 300, bodyTimeoutMs: 300 });
    cleanups.push(async () => {
      await served.server.close();
      await backing.close();
    });
    const channel = await openRawChannel(served.url, tokens.worker);
    let closed = false;
    channel.onclose = () => {
      closed = true;
    };
    const openedAt = performance.now();
    // A connection that sends nothing is dropped: the header deadline has passed for the channel too.
    const idle = connect(Number(new URL(served.url).port), '127.0.0.1');
    await new Promise((resolve) => idle.once('close', resolve));
    // Calls keep being answered on the same channel until Node's request deadline (and its check) is past too.
    const answers: string[] = [];
    channel.onmessage = (event) => answers.push(String(event.data));
    for (let id = 1; performance.now() - openedAt < 2600; id++) {
      channel.send(JSON.stringify({ id, route: 'runs.list', body: { options: { limit: 1 } } }));
      while (answers.length < id && !closed) await new Promise((resolve) => setTimeout(resolve, 10));
      expect(closed).toBe(false);
      expect(JSON.parse(answers[id - 1]!).result.data).toEqual([]);
    }
    channel.close();
  });

  it('sends calls as requests once 8,192 wait on its channel, and every one is answered', async () => {
    const served = await countingServer({ upgrades: true });
    const client = await served.client();
    await untilOnChannel(client, served.requests);
    const { run } = await client.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    const watches = Array.from({ length: 8200 }, () => client.events.watch(run.runId, run.lastSeq));
    const asRequests = () => served.requests.filter((url) => url === '/v1/events.watch').length;
    while (asRequests() < 8) await new Promise((resolve) => setTimeout(resolve, 10));
    await client.events.create(run.runId, { eventType: 'run_started' });
    const answered = await Promise.all(watches);
    expect(answered).toHaveLength(8200);
    expect(asRequests()).toBe(8);
  }, 60_000);
});
