import type { QueueClaim, World } from '@cairn/core/world';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveWatched, tokens, type WatchedServer } from './helpers.js';

let served: WatchedServer;
let backing: World;
let pool: Pool;

beforeAll(async () => {
  served = await serveWatched();
  backing = served.backing;
  pool = new Pool(served.url, { connections: 4 });
});
afterAll(async () => {
  await pool.close();
  await served.close();
});

const arrived = (route: string) => served.arrived(route);

async function call<Result>(route: string, body: unknown, signal?: AbortSignal): Promise<Result> {
  const response = await pool.request({
    path: `/v1/${route}`,
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.worker}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    ...(signal ? { signal } : {}),
  });
  const answer = (await response.body.json()) as { result: Result };
  expect(response.statusCode).toBe(200);
  return answer.result;
}

/** A call whose answer may be an error: its status and its body. */
async function attempt(route: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const response = await pool.request({
    path: `/v1/${route}`,
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.worker}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.statusCode, body: await response.body.json() };
}

interface Polled {
  deliveries: { deliveryId: string; message: { messageId: string; payload: unknown }; claim?: QueueClaim }[];
}

/** Lets the requests the server has taken run until they park. */
const settle = () => new Promise((resolve) => setImmediate(resolve));

describe('world-http: queue polls', () => {
  it('a poll still wakes at once when another poll of its session ends first', async () => {
    const { sessionId } = await call<{ sessionId: string }>('queue.subscribe', { topic: 'polls' });
    // A poll from a connection the client gave up on (the server has not noticed yet), and its replacement.
    const stale = new AbortController();
    const staleArrived = arrived('queue.poll');
    const abandoned = call('queue.poll', { sessionId, waitMs: 20_000 }, stale.signal).catch(() => 'aborted');
    await staleArrived;
    await settle();
    const currentArrived = arrived('queue.poll');
    const current = call<{ deliveries: { message: { payload: unknown } }[] }>('queue.poll', {
      sessionId,
      waitMs: 20_000,
    });
    await currentArrived;
    await settle();
    stale.abort();
    expect(await abandoned).toBe('aborted');
    const started = Date.now();
    await backing.queue.send('polls', 'wake up');
    const { deliveries } = await current;
    // Woken by the message, not by the end of its 20 s wait.
    expect(Date.now() - started).toBeLessThan(5000);
    expect(deliveries.map((delivery) => delivery.message.payload)).toEqual(['wake up']);
    await call('queue.unsubscribe', { sessionId });
  }, 30_000);

  it('a delivery carries the served World’s claim, and an ack may only say that an append settled it', async () => {
    const { sessionId } = await call<{ sessionId: string }>('queue.subscribe', { topic: 'claimed' });
    await backing.queue.send('claimed', 'first', { groupKey: 'claimed-group' });
    const [delivery] = (await call<Polled>('queue.poll', { sessionId, waitMs: 10_000 })).deliveries;
    expect(delivery?.claim).toEqual({
      topic: 'claimed',
      messageId: delivery?.message.messageId,
      token: expect.any(String),
      groupKey: 'claimed-group',
    });
    const refused = await attempt('queue.ack', { sessionId, deliveryId: delivery!.deliveryId, byAppend: 'yes' });
    expect(refused.status).toBe(400);
    expect(JSON.stringify(refused.body)).toContain('body.byAppend');
    // What an append that lists the claim does to it, done here by the World's own settlement.
    expect(await backing.queue.settleClaim!(delivery!.claim!, { acknowledge: true })).toBe(true);
    const acked = await call<{ settled: boolean }>('queue.ack', {
      sessionId,
      deliveryId: delivery!.deliveryId,
      byAppend: true,
    });
    expect(acked.settled).toBe(true);
    // The group is free, and the first message is not delivered again.
    await backing.queue.send('claimed', 'second', { groupKey: 'claimed-group' });
    const next = (await call<Polled>('queue.poll', { sessionId, waitMs: 10_000 })).deliveries;
    expect(next.map(({ message }) => message.payload)).toEqual(['second']);
    await call('queue.ack', { sessionId, deliveryId: next[0]!.deliveryId });
    await call('queue.unsubscribe', { sessionId });
  }, 30_000);
});
