import { request } from 'node:http';
import type { World } from '@cairn/core/world';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localWorld, openRawChannel, type Served, serve, tokens } from './helpers.js';

const maxBodyBytes = 64 * 1024;
let served: Served;
let backing: World;
let runId: string;

beforeAll(async () => {
  backing = await localWorld();
  const { run } = await backing.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
  runId = run.runId;
  await backing.events.create(runId, { eventType: 'run_started' });
  served = await serve(backing, { maxBodyBytes });
});
afterAll(async () => {
  await served.server.close();
  await backing.close();
});

async function countEverything(world: World) {
  const runs = await world.runs.list({ limit: 1000 });
  let events = 0;
  for (const run of runs.data) events += (await world.events.list(run.runId, { limit: 1000 })).data.length;
  return { runs: runs.data.length, events };
}

/** A channel on which each frame sent is awaited for its one answer. */
async function openChannel(token: string) {
  const socket = await openRawChannel(served.url, token);
  const answers: string[] = [];
  let wake: (() => void) | undefined;
  socket.onmessage = (event) => {
    answers.push(String(event.data));
    wake?.();
  };
  return {
    socket,
    async exchange(frame: string | Uint8Array): Promise<Record<string, unknown>> {
      socket.send(frame);
      while (answers.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return JSON.parse(answers.shift()!);
    },
  };
}

const writeRoutes = ['events.create', 'events.createBatch', 'queue.send', 'queue.ack', 'queue.poll', 'streams.write'];

/** Frames a client should never send, and the statuses that refuse them correctly. */
function malformedFrame(index: number): { frame: string | Uint8Array; expect: number[]; id: number | null } {
  const id = index + 1;
  const route = writeRoutes[index % writeRoutes.length]!;
  const kinds: (() => { frame: string | Uint8Array; expect: number[]; id: number | null })[] = [
    () => ({ frame: `{"id":${id},"route":`, expect: [400], id: null }),
    () => ({ frame: 'not json at all', expect: [400], id: null }),
    () => ({ frame: JSON.stringify([id, route]), expect: [400], id: null }),
    () => ({ frame: 'null', expect: [400], id: null }),
    () => ({ frame: JSON.stringify({ route, body: {} }), expect: [400], id: null }),
    () => ({ frame: JSON.stringify({ id: -id, route, body: {} }), expect: [400], id: null }),
    () => ({ frame: JSON.stringify({ id: id + 0.5, route, body: {} }), expect: [400], id: null }),
    () => ({ frame: JSON.stringify({ id: String(id), route, body: {} }), expect: [400], id: null }),
    () => ({ frame: JSON.stringify({ id, route: 42, body: {} }), expect: [400], id }),
    () => ({ frame: JSON.stringify({ id, route: `nope.${index}`, body: {} }), expect: [404], id }),
    () => ({ frame: JSON.stringify({ id, route: 'streams.read', body: { runId } }), expect: [404], id }),
    () => ({ frame: JSON.stringify({ id, cancel: 'yes' }), expect: [400], id }),
    () => ({ frame: JSON.stringify({ id, route, body: null }), expect: [400], id }),
    () => ({ frame: JSON.stringify({ id, route, body: [1, 2] }), expect: [400], id }),
    () => ({ frame: JSON.stringify({ id, route, body: { runId: 12, request: 'x', topic: 7 } }), expect: [400], id }),
    () => ({
      frame: JSON.stringify({ id, route, body: { sessionId: 'nope', deliveryId: 'x', runId: 'wrun_x', name: 3 } }),
      expect: [400, 404],
      id,
    }),
    () => ({
      frame: JSON.stringify({ id, route: 'events.create', body: { runId, request: { eventType: 'step_created' } } }),
      expect: [400],
      id,
    }),
    () => ({ frame: new Uint8Array([123, 125]), expect: [400], id: null }),
    () => ({
      frame: JSON.stringify({ id, route: 'queue.send', body: { topic: 'jobs', payload: 'x'.repeat(maxBodyBytes) } }),
      expect: [413],
      id: null,
    }),
  ];
  return kinds[index % kinds.length]!();
}

/** Answers an upgrade attempt gets instead of a channel: its status and body. */
function refusedUpgrade(path: string, authorization?: string): Promise<{ status: number; body: string }> {
  const { hostname, port } = new URL(served.url);
  return new Promise((resolve, reject) => {
    const attempt = request({
      host: hostname,
      port,
      path,
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...(authorization === undefined ? {} : { authorization }),
      },
    });
    attempt.on('upgrade', (_response, socket) => {
      socket.destroy();
      reject(new Error(`${path} was upgraded`));
    });
    attempt.on('response', (response) => {
      let body = '';
      response.on('data', (chunk) => {
        body += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
    });
    attempt.on('error', reject);
    attempt.end();
  });
}

describe('world-http: malformed calls on the call channel', () => {
  it('answers 4,000 malformed frames with typed 4xx errors, keeps the channel and writes nothing', async () => {
    const before = await countEverything(backing);
    const channels = await Promise.all([openChannel(tokens.worker), openChannel(tokens.worker)]);
    const failures: string[] = [];
    const statuses = new Set<number>();
    await Promise.all(
      channels.map(async (channel, which) => {
        for (let index = which; index < 4000; index += channels.length) {
          const malformed = malformedFrame(index);
          const answer = await channel.exchange(malformed.frame);
          const code = (answer.error as { code?: unknown } | undefined)?.code;
          statuses.add(answer.status as number);
          const typed = typeof code === 'string' && /^[A-Z_]+$/.test(code);
          if (!typed || !malformed.expect.includes(answer.status as number) || answer.id !== malformed.id) {
            failures.push(`frame ${index}: ${JSON.stringify(answer).slice(0, 200)}`);
          }
        }
        // The same channel still answers a good call.
        const good = await channel.exchange(JSON.stringify({ id: 999_999, route: 'runs.get', body: { runId } }));
        expect((good.result as { runId: string }).runId).toBe(runId);
      }),
    );
    expect(failures.slice(0, 10)).toEqual([]);
    expect([...statuses].sort()).toEqual([400, 404, 413]);
    for (const channel of channels) channel.socket.close();
    expect(await countEverything(backing)).toEqual(before);
  }, 60_000);

  it('refuses a read token every write, with a typed 403', async () => {
    const channel = await openChannel(tokens.read);
    for (let index = 0; index < 200; index++) {
      const route = writeRoutes[index % writeRoutes.length]!;
      const answer = await channel.exchange(JSON.stringify({ id: index + 1, route, body: { runId } }));
      expect(answer.status).toBe(403);
      expect((answer.error as { code: string }).code).toBe('FORBIDDEN');
    }
    channel.socket.close();
    expect((await backing.events.list(runId)).data).toHaveLength(2);
  });

  it('opens no channel without a valid token, or anywhere but its path', async () => {
    const attempts = [
      refusedUpgrade('/v1/channel'),
      refusedUpgrade('/v1/channel', 'Bearer not-a-token-anyone-was-given'),
      refusedUpgrade('/v1/channel', `Basic ${tokens.worker}`),
      refusedUpgrade('/v1/events.create', `Bearer ${tokens.worker}`),
      refusedUpgrade('/v1/channel/', `Bearer ${tokens.worker}`),
    ];
    const answers = await Promise.all(attempts);
    expect(answers.map((answer) => answer.status)).toEqual([401, 401, 401, 404, 404]);
    for (const answer of answers) expect(JSON.parse(answer.body).error.code).toMatch(/^[A-Z_]+$/);
  });
});
