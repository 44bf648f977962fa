import type { World } from '@cairn/core/world';
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
});
