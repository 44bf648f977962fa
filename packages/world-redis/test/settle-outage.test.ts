import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisWorld } from '../src/index.js';
import { type RedisServer, startRedis } from '../src/testing.js';
import { freshPrefix } from './helpers.js';

// A consumer's acknowledgement that meets a brief outage must not be dropped: the message
// would stay leased, and its group held, until the lease ran out (five minutes by default),
// so everything queued behind it in the group would wait that long. (ioredis holds commands
// sent while disconnected and sends them on reconnecting; this keeps it that way.)

let server: RedisServer;
beforeAll(async () => {
  server = await startRedis();
});
afterAll(() => server?.stop());

describe('world-redis: a settlement during an outage', () => {
  it('lands once the server is back, and frees the group long before the lease would run out', async () => {
    const world = createRedisWorld({ url: server.url, prefix: freshPrefix(), pollIntervalMs: 60_000 });
    await world.open();
    try {
      const handled: unknown[] = [];
      let releaseFirst!: () => void;
      const firstMayFinish = new Promise<void>((resolve) => (releaseFirst = resolve));
      let firstStarted!: () => void;
      const started = new Promise<void>((resolve) => (firstStarted = resolve));
      let firstSettled!: () => void;
      const settled = new Promise<void>((resolve) => (firstSettled = resolve));
      const consumer = world.queue.consume(
        'grouped',
        async (message) => {
          handled.push(message.payload);
          if (message.payload === 'first') {
            firstStarted();
            await firstMayFinish;
            // The settlement is attempted right after the handler returns, with the server down.
            setImmediate(firstSettled);
          }
        },
        { leaseMs: 300_000 },
      );
      await world.queue.send('grouped', 'first', { groupKey: 'run-1' });
      await world.queue.send('grouped', 'second', { groupKey: 'run-1' });
      await started;
      await server.kill();
      releaseFirst();
      await settled;
      await server.start();
      await expect.poll(() => handled, { timeout: 20_000, interval: 50 }).toEqual(['first', 'second']);
      await consumer.stop();
    } finally {
      await world.close();
    }
  }, 60_000);
});
