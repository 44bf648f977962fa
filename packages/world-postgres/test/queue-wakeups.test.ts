import type { World } from '@cairn/core/world';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, freshSchema, listenToChannel, observingClient } from './helpers.js';

const opened: World[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
});

function openWorld(schema: string): World {
  // A poll this slow never rescues a missed wake-up within a test's time.
  const world = createPostgresWorld({ connectionString, schema, pollIntervalMs: 60_000 });
  opened.push(world);
  return world;
}

describe('world-postgres: queue wake-ups', () => {
  it('acknowledging a message nobody waits on wakes no consumer', async () => {
    const schema = freshSchema();
    const world = openWorld(schema);
    await world.queue.send('warm-up', 'x'); // creates the schema before LISTEN
    const listener = await listenToChannel(schema);
    try {
      const handled: unknown[] = [];
      let allHandled!: () => void;
      const done = new Promise<void>((resolve) => (allHandled = resolve));
      const consumer = world.queue.consume('quiet', async (message) => {
        handled.push(message.payload);
        if (handled.length === 5) allHandled();
      });
      for (let index = 0; index < 5; index++) await world.queue.send('quiet', index);
      await done;
      await consumer.stop(); // waits for every acknowledgement
      // One notification per send; the acknowledgements send none.
      const queueNotifications = listener.received
        .map((notification) => notification.payload)
        .filter((payload) => payload.startsWith('queue '));
      expect(queueNotifications).toEqual(Array.from({ length: 5 }, () => 'queue quiet'));
    } finally {
      await listener.stop();
    }
  });

  it('acknowledging a message wakes consumers when its group has another message waiting', async () => {
    const schema = freshSchema();
    const [holder, other] = [openWorld(schema), openWorld(schema)];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let firstTaken!: () => void;
    const taken = new Promise<void>((resolve) => (firstTaken = resolve));
    const holding = holder.queue.consume('grouped', async () => {
      firstTaken();
      await released;
    });
    await holder.queue.send('grouped', 'first', { groupKey: 'g' });
    await taken;
    let secondArrived!: (payload: unknown) => void;
    const second = new Promise<unknown>((resolve) => (secondArrived = resolve));
    const waiting = other.queue.consume('grouped', async (message) => secondArrived(message.payload));
    // Sent while the group is held: no consumer can take it until the first is acknowledged.
    await other.queue.send('grouped', 'second', { groupKey: 'g' });
    // The holder stops taking work, so only the other World can take the second message,
    // and only a wake-up from the acknowledgement tells it to look (its poll is a minute).
    const stopping = holding.stop();
    release();
    await stopping;
    expect(await second).toBe('second');
    await waiting.stop();
  });

  it('a consumer with free slots leases once per message, not again when one settles', async () => {
    const schema = freshSchema();
    const pool = new LeaseCountingPool({ connectionString });
    const world = createPostgresWorld({ pool, schema, pollIntervalMs: 60_000 });
    opened.push(world);
    try {
      await world.queue.send('warm-up', 'x'); // creates the schema
      const consumer = world.queue.consume('counted', async () => {}, { concurrency: 4 });
      // The first message also meets the leases the consumer takes as it starts listening.
      const firstAcked = pool.nextAck();
      await world.queue.send('counted', 'first');
      await firstAcked;
      for (let index = 0; index < 3; index++) {
        await new Promise((resolve) => setImmediate(resolve));
        const before = pool.leases;
        const acked = pool.nextAck();
        await world.queue.send('counted', index);
        await acked;
        // A lease the freed slot started would have been sent by now.
        await new Promise((resolve) => setImmediate(resolve));
        expect(pool.leases - before).toBe(1);
      }
      await consumer.stop();
    } finally {
      await pool.end();
    }
  });

  it('a consumer whose slots were all taken leases for what waited as soon as one frees', async () => {
    const schema = freshSchema();
    const world = openWorld(schema);
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    const seen: unknown[] = [];
    let allSeen!: () => void;
    const done = new Promise<void>((resolve) => (allSeen = resolve));
    let firstTaken!: () => void;
    const taken = new Promise<void>((resolve) => (firstTaken = resolve));
    const consumer = world.queue.consume('busy', async (message) => {
      seen.push(message.payload);
      if (seen.length === 1) {
        firstTaken();
        await released;
      }
      if (seen.length === 3) allSeen();
    });
    await world.queue.send('busy', 'first');
    await taken;
    // Both arrive while the only slot is taken: their notifications find no free slot, and
    // the poll is a minute, so only the freed slot can bring them in.
    await world.queue.send('busy', 'second');
    await world.queue.send('busy', 'third');
    release();
    await done;
    expect(seen).toEqual(['first', 'second', 'third']);
    await consumer.stop();
  });
});

/** A real pool that counts the queue's lease statements and tells when an acknowledgement completed. */
class LeaseCountingPool extends pg.Pool {
  leases = 0;
  private ackWaiters: (() => void)[] = [];
  constructor(config: pg.PoolConfig) {
    const seen: { pool?: LeaseCountingPool } = {};
    super({ ...config, Client: observingClient(({ text }, answered) => seen.pool?.counted(text, answered)) });
    seen.pool = this;
  }
  nextAck(): Promise<void> {
    return new Promise((resolve) => this.ackWaiters.push(resolve));
  }
  private counted(text: string, answered: Promise<unknown>): void {
    if (text.includes('lease_now')) this.leases += 1;
    if (text.includes('.queue_ack(')) {
      void answered.then(() => {
        for (const resolve of this.ackWaiters.splice(0)) resolve();
      });
    }
  }
}
