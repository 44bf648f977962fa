import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { type PostgresServer, startPostgres } from '../src/testing.js';

// A consumer's acknowledgement that meets a brief outage used to be dropped: the message
// stayed leased, and its group held, until the lease ran out (five minutes by default), so
// everything queued behind it in the group (a run's next wake, a hook's delivery) waited
// that long although the database was back within a second.

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres('settle_outage');
}, 60_000);
afterAll(() => server?.stop());

/** Resolves once a new connection to the server is refused. */
async function untilRefused(): Promise<void> {
  for (;;) {
    const client = new pg.Client({ connectionString: server.connectionString, connectionTimeoutMillis: 1000 });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.end();
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('world-postgres: a settlement during an outage', () => {
  it('lands once the database is back, and frees the group long before the lease would run out', async () => {
    const world = createPostgresWorld({ connectionString: server.connectionString, pollIntervalMs: 60_000 });
    try {
      await world.queue.send('warm-up', 'x'); // creates the schema
      const handled: unknown[] = [];
      let releaseFirst!: () => void;
      const firstMayFinish = new Promise<void>((resolve) => (releaseFirst = resolve));
      let firstStarted!: () => void;
      const started = new Promise<void>((resolve) => (firstStarted = resolve));
      const consumer = world.queue.consume(
        'grouped',
        async (message) => {
          handled.push(message.payload);
          if (message.payload === 'first') {
            firstStarted();
            await firstMayFinish;
          }
        },
        { leaseMs: 300_000 },
      );
      await world.queue.send('grouped', 'first', { groupKey: 'run-1' });
      await world.queue.send('grouped', 'second', { groupKey: 'run-1' });
      await started;
      // The handler finishes while the server is down, so its acknowledgement fails.
      const restarted = server.restart();
      await untilRefused();
      releaseFirst();
      await restarted;
      // With the acknowledgement lost, the second message would wait for the lease: minutes.
      await expect.poll(() => handled, { timeout: 20_000, interval: 50 }).toEqual(['first', 'second']);
      const reader = new pg.Client({ connectionString: server.connectionString });
      await reader.connect();
      const { rows } = await reader.query(
        'SELECT count(*)::int AS redelivered FROM cairn.queue_messages WHERE attempt > 1',
      );
      await reader.end();
      // Delivered once each: the first was acknowledged, not handed back for redelivery.
      expect(rows[0]?.redelivered).toBe(0);
      await consumer.stop();
    } finally {
      await world.close();
    }
  }, 60_000);
});
