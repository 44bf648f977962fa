import { DuplicateDeliveryError } from '@cairn/core/world';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisWorld, type RedisWorld } from '../src/index.js';
import { Keys } from '../src/keys.js';
import { repeatWindowMs } from '../src/scripts.js';
import { clusterNodes, freshPrefix, redisUrl } from './helpers.js';
import { type ReplyDroppingProxy, startReplyDroppingProxy } from './reply-dropping-proxy.js';

// A reply lost on the way back (the connection drops after the script ran) makes ioredis
// send the command again once it has reconnected. Each write below runs on the server
// twice; the World must answer as if it ran once, and store it once.
describe('world-redis: a write whose reply was lost is sent again by the client', () => {
  let proxy: ReplyDroppingProxy;
  let world: RedisWorld;
  const admin = new Redis(redisUrl);
  beforeAll(async () => {
    proxy = await startReplyDroppingProxy(redisUrl);
    world = createRedisWorld({ url: proxy.url, prefix: freshPrefix(), pollIntervalMs: 50 });
    await world.open();
  });
  afterAll(async () => {
    await world.close();
    await proxy.close();
    admin.disconnect();
  });

  const appendReply = '"results":';
  const topic = 'lost-reply-wake';
  const runCreated = { eventType: 'run_created', eventData: { workflowName: 'lost-reply' } } as const;

  it('a fenced append resolves with its event, and the log holds it once', async () => {
    const { event: created } = await world.events.create(null, runCreated);
    const dropped = proxy.dropNextReplyContaining(appendReply);
    const appended = await world.events.create(
      created.runId,
      { eventType: 'step_created', correlationId: 'step-1', eventData: { stepName: 'once' } },
      { lastKnownEventId: created.eventId },
    );
    await dropped;
    expect(appended.event.seq).toBe(2);
    expect(appended.step?.stepId).toBe('step-1');
    const { data } = await world.events.list(created.runId);
    expect(data.map((event) => event.eventType)).toEqual(['run_created', 'step_created']);
  });

  it('creating a run resolves with the run instead of an EntityConflictError', async () => {
    const dropped = proxy.dropNextReplyContaining(appendReply);
    const { event, run } = await world.events.create(null, runCreated);
    await dropped;
    expect(run.status).toBe('pending');
    expect((await world.events.list(event.runId)).data).toHaveLength(1);
  });

  it('an unfenced hook_received is delivered once', async () => {
    const { event } = await world.events.create(null, runCreated);
    const runId = event.runId;
    await world.events.create(runId, { eventType: 'run_started' });
    const token = `lost-reply-${freshPrefix()}`;
    await world.events.create(runId, { eventType: 'hook_created', correlationId: 'hook-1', eventData: { token } });
    const dropped = proxy.dropNextReplyContaining(appendReply);
    const received = await world.events.create(runId, {
      eventType: 'hook_received',
      correlationId: 'hook-1',
      eventData: { payload: 'signal' },
    });
    await dropped;
    expect(received.hook?.receivedCount).toBe(1);
    const { data } = await world.events.list(runId);
    expect(data.filter((entry) => entry.eventType === 'hook_received')).toHaveLength(1);
    expect((await world.hooks.get(runId, 'hook-1')).receivedCount).toBe(1);
  });

  it('a delivery id whose reply was lost resolves with its event; only a later send of the id is a repeat', async () => {
    const { event } = await world.events.create(null, runCreated);
    const runId = event.runId;
    await world.events.create(runId, { eventType: 'run_started' });
    const token = `lost-reply-${freshPrefix()}`;
    await world.events.create(runId, { eventType: 'hook_created', correlationId: 'hook-1', eventData: { token } });
    const delivery = {
      eventType: 'hook_received',
      correlationId: 'hook-1',
      eventData: { payload: 'signal', deliveryId: 'order-1' },
    } as const;
    const dropped = proxy.dropNextReplyContaining(appendReply);
    const received = await world.events.create(runId, delivery);
    await dropped;
    expect(received.event.seq).toBe(4);
    const refused = await world.events.create(runId, delivery).catch((error: unknown) => error);
    expect(DuplicateDeliveryError.is(refused)).toBe(true);
    expect(refused).toMatchObject({ runId, deliveryId: 'order-1', hookId: 'hook-1' });
    // The record sits beside the run's other keys, under its partition's hash tag.
    const base = new Keys(world.name.split('/').at(-1)!, 16).runBase(runId);
    expect(await admin.hgetall(`${base}:d:${runId}`)).toEqual({ 'order-1': 'hook-1' });
    expect((await world.hooks.get(runId, 'hook-1')).receivedCount).toBe(1);
  });

  it('a batch with an outbox resolves with every event, relays its message before resolving, and queues it once', async () => {
    const { event } = await world.events.create(null, runCreated);
    const runId = event.runId;
    const keys = new Keys(world.name.split('/').at(-1)!, 16);
    // A key whose queue lives in another partition than the run: the message goes by the outbox.
    let idempotencyKey = 'k0';
    for (
      let index = 1;
      keys.messagePartition(topic, { idempotencyKey }, -1) === keys.partitionOf(`run:${runId}`);
      index++
    )
      idempotencyKey = `k${index}`;
    const dropped = proxy.dropNextReplyContaining(appendReply);
    const results = await world.events.createBatch(
      runId,
      [
        { eventType: 'run_started' },
        { eventType: 'wait_created', correlationId: 'wait-1', eventData: { resumeAt: 1 } },
      ],
      { lastKnownEventId: event.eventId, enqueue: [{ topic, payload: runId, options: { idempotencyKey } }] },
    );
    await dropped;
    expect(results.map((result) => result.event.seq)).toEqual([2, 3]);
    expect(results[1]!.wait?.waitId).toBe('wait-1');
    const base = keys.runBase(runId);
    expect(await admin.zcard(`${base}:outbox`), 'relayed before the append resolved').toBe(0);
    // What the append did is kept under its id for a while, not for ever.
    const kept = await admin.pttl(`${base}:rp:${runId}`);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThanOrEqual(repeatWindowMs);
    const delivered: unknown[] = [];
    const consumer = world.queue.consume(topic, async (message) => {
      delivered.push(message.payload);
    });
    await expect.poll(() => delivered, { timeout: 10_000, interval: 20 }).toEqual([runId]);
    await consumer.stop();
    expect((await world.events.list(runId)).data).toHaveLength(3);
  });

  it('a stream write without an idempotency key adds its chunk once', async () => {
    const { event } = await world.events.create(null, runCreated);
    const dropped = proxy.dropNextReplyContaining('"index":');
    const { index } = await world.streams.write(event.runId, 'out', 'chunk');
    await dropped;
    expect(index).toBe(0);
    expect((await world.streams.list(event.runId))[0]?.chunkCount).toBe(1);
  });

  it('a send with an idempotency key reports its own message as new', async () => {
    const dropped = proxy.dropNextReplyContaining('"deduplicated":');
    const sent = await world.queue.send('lost-reply-send', 'payload', { idempotencyKey: freshPrefix() });
    await dropped;
    expect(sent.deduplicated).toBe(false);
  });
});

// The same on a cluster: every master is reached through its own proxy (ioredis maps the
// addresses the cluster announces onto the proxies), and whichever one serves the run's
// slot loses the reply.
describe('world-redis (cluster): a write whose reply was lost is sent again by the client', () => {
  let proxies: ReplyDroppingProxy[];
  let cluster: Cluster;
  let world: RedisWorld;
  beforeAll(async () => {
    proxies = await Promise.all(clusterNodes.map((node) => startReplyDroppingProxy(node)));
    const natMap = Object.fromEntries(
      clusterNodes.map((node, index) => [
        new URL(node).host,
        { host: '127.0.0.1', port: Number(new URL(proxies[index]!.url).port) },
      ]),
    );
    cluster = new Cluster(
      clusterNodes.map((node) => ({ host: '127.0.0.1', port: Number(new URL(node).port) })),
      // A cut connection drops its node until the slots are read again; a command sent to
      // another node meanwhile is MOVED back, and ioredis records a MOVED target without
      // the natMap, so it is retried only once the refreshed (mapped) slots are in.
      { natMap, lazyConnect: true, retryDelayOnMoved: 200 },
    );
    cluster.on('error', () => {});
    world = createRedisWorld({ client: cluster, prefix: freshPrefix() });
    await world.open();
  });
  afterAll(async () => {
    await world.close();
    cluster.disconnect();
    await Promise.all(proxies.map((proxy) => proxy.close()));
  });

  /** Runs `write` with the next append reply on any master dropped; resolves with its result. */
  async function withReplyDropped<Result>(marker: string, write: () => Promise<Result>): Promise<Result> {
    const dropped = Promise.race(proxies.map((proxy) => proxy.dropNextReplyContaining(marker)));
    try {
      const result = await write();
      await dropped;
      return result;
    } finally {
      for (const proxy of proxies) proxy.disarm();
    }
  }

  it('a fenced append and an unfenced hook_received are each stored once', async () => {
    const created = await withReplyDropped('"results":', () =>
      world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'lost-reply' } }),
    );
    const runId = created.event.runId;
    const started = await withReplyDropped('"results":', () =>
      world.events.create(runId, { eventType: 'run_started' }, { lastKnownEventId: created.event.eventId }),
    );
    expect(started.run.status).toBe('running');
    const token = `lost-reply-${freshPrefix()}`;
    await withReplyDropped('"results":', () =>
      world.events.create(runId, { eventType: 'hook_created', correlationId: 'hook-1', eventData: { token } }),
    );
    await withReplyDropped('"results":', () =>
      world.events.create(runId, {
        eventType: 'hook_received',
        correlationId: 'hook-1',
        eventData: { payload: 'signal' },
      }),
    );
    const { data } = await world.events.list(runId);
    expect(data.map((event) => event.eventType)).toEqual([
      'run_created',
      'run_started',
      'hook_created',
      'hook_received',
    ]);
    expect((await world.hooks.getByToken(token)).receivedCount).toBe(1);
  });
});
