import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { FenceConflictError, InvalidInputError, type QueueMessage, type World } from '@cairn/core/world';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisWorld } from '../src/index.js';
import { Keys } from '../src/keys.js';
import {
  clusterNodes,
  createTestWorld,
  disconnectRawClients,
  freshPrefix,
  rawClient,
  redisUrl,
  type Topology,
} from './helpers.js';
import { startReplyDroppingProxy } from './reply-dropping-proxy.js';

const fixture = fileURLToPath(new URL('./fixtures/crash-between.mjs', import.meta.url));

/** Runs the crash fixture (dist/), which SIGKILLs itself at `step`; resolves with how it ended. */
function crashAt(step: string, argument: object): Promise<NodeJS.Signals | number | null> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [fixture, step, JSON.stringify(argument)]);
    child.once('exit', (code, signal) => resolve(signal ?? code));
  });
}

async function until<Value>(probe: () => Promise<Value | undefined>, what: string, timeoutMs = 20_000): Promise<Value> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const keysOf = (world: World) => new Keys(world.name.split('/').at(-1)!, 16);

async function startedRun(world: World): Promise<{ runId: string; tail: string }> {
  const { event } = await world.events.create(null, {
    eventType: 'run_created',
    eventData: { workflowName: 'claims' },
  });
  const started = await world.events.create(event.runId, { eventType: 'run_started' });
  return { runId: event.runId, tail: started.event.eventId };
}

const step = (id: string) => ({ eventType: 'step_created', correlationId: id, eventData: { stepName: id } }) as const;

/** The first of `name0`, `name1`, ... for which `wanted` holds. */
function firstName(name: string, wanted: (candidate: string) => boolean): string {
  for (let index = 0; ; index++) if (wanted(`${name}${index}`)) return `${name}${index}`;
}

afterAll(disconnectRawClients);

describe.each<Topology>(['single', 'cluster'])('world-redis (%s): claims across partitions', (topology) => {
  const source = topology === 'single' ? { url: redisUrl } : { cluster: { nodes: clusterNodes } };
  const client = () => rawClient(topology);

  it('a chosen message id the queue holds is refused naming it, in the run’s partition or another', async () => {
    const world = createTestWorld(topology);
    const keys = keysOf(world);
    const { runId, tail } = await startedRun(world);
    const home = keys.partitionOf(`run:${runId}`);
    const topic = 'claims.taken';
    const ids = {
      here: firstName(`msg_here_${runId}_`, (id) => keys.partitionOf(id) === home),
      elsewhere: firstName(`msg_elsewhere_${runId}_`, (id) => keys.partitionOf(id) !== home),
    };
    let last = tail;
    for (const messageId of Object.values(ids)) {
      const first = await world.events.create(runId, step(`first-${messageId}`), {
        lastKnownEventId: last,
        enqueue: [{ topic, payload: 'first', claim: { leaseMs: 60_000, messageId } }],
      });
      expect(first.claims?.map((claim) => claim.messageId)).toEqual([messageId]);
      last = first.event.eventId;
      const refused = world.events.create(runId, step(`again-${messageId}`), {
        lastKnownEventId: last,
        enqueue: [{ topic, payload: 'again', claim: { leaseMs: 60_000, messageId } }],
      });
      await expect(refused).rejects.toSatisfy(
        (error: unknown) =>
          InvalidInputError.is(error) &&
          error.field === 'params.enqueue.0.claim.messageId' &&
          error.value === messageId,
      );
      expect((await world.runs.get(runId)).lastEventId, 'nothing was written').toBe(last);
    }
    await world.close();
  });

  it('an acknowledgement for another partition is relayed only when its append commits', async () => {
    const world = createTestWorld(topology);
    const keys = keysOf(world);
    const { runId, tail } = await startedRun(world);
    const group = firstName(
      'claims-group-',
      (key) => keys.partitionOf(`run:${key}`) !== keys.partitionOf(`run:${runId}`),
    );
    const topic = 'claims.fenced';
    const claimed = await world.events.create(runId, step('claimer'), {
      lastKnownEventId: tail,
      enqueue: [{ topic, payload: 'claimed', options: { groupKey: group }, claim: { leaseMs: 60_000 } }],
    });
    const claim = claimed.claims![0]!;
    expect(claim.groupKey).toBe(group);
    // A refused append acknowledges nothing: the claim is still there to hand back.
    await expect(
      world.events.create(runId, step('refused'), { lastKnownEventId: tail, acknowledge: [claim] }),
    ).rejects.toSatisfy(FenceConflictError.is);
    expect(await world.queue.extendClaim!(claim, 60_000), 'the refused append left the claim alone').toBe(true);
    await world.events.create(runId, step('commits'), {
      lastKnownEventId: claimed.event.eventId,
      acknowledge: [claim],
    });
    const redis = client();
    expect(await redis.exists(`${keys.base(keys.claimPartition(claim))}:m:${claim.messageId}`)).toBe(0);
    expect(await redis.zcard(`${keys.runBase(runId)}:outbox`), 'relayed before the append resolved').toBe(0);
    expect(await world.queue.settleClaim!(claim, { retryAfterMs: 0 })).toBe(false);
    await world.close();
  });

  it('a process killed after committing an acknowledgement for another partition: the sweep still settles it', async () => {
    const world = createTestWorld(topology, { pollIntervalMs: 100 });
    const prefix = world.name.split('/').at(-1)!;
    const keys = keysOf(world);
    const { runId, tail } = await startedRun(world);
    const group = firstName(
      'crash-group-',
      (key) => keys.partitionOf(`run:${key}`) !== keys.partitionOf(`run:${runId}`),
    );
    const topic = 'claims.crash';
    const { claims } = await world.events.create(runId, step('claimer'), {
      lastKnownEventId: tail,
      // Long enough to outlast the fixture's start, so the lease holds when its append commits.
      enqueue: [{ topic, payload: 'claimed', options: { groupKey: group }, claim: { leaseMs: 3000 } }],
    });
    const claim = claims![0]!;
    expect(await crashAt('append', { source, prefix, runId, acknowledge: claim })).toBe('SIGKILL');
    const redis = client();
    const outbox = `${keys.runBase(runId)}:outbox`;
    expect(await redis.zcard(outbox), 'the acknowledgement outlived the kill').toBe(1);

    // The claim lapses before the sweep comes (seconds later), and a consumer takes the
    // message and holds on to it; the committed acknowledgement must still end it.
    const deliveries: QueueMessage[] = [];
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    const consumer = world.queue.consume(
      topic,
      async (message) => {
        deliveries.push(message);
        if (message.payload === 'claimed') await held;
      },
      // A second slot for the group's next message while the first handler holds on.
      { leaseMs: 60_000, concurrency: 2 },
    );
    await until(async () => (deliveries.length > 0 ? true : undefined), 'the lapsed claim’s redelivery');
    expect(deliveries[0]).toMatchObject({ messageId: claim.messageId, attempt: 2 });
    const messageKey = `${keys.base(keys.claimPartition(claim))}:m:${claim.messageId}`;
    await until(
      async () => ((await redis.zcard(outbox)) === 0 && (await redis.exists(messageKey)) === 0 ? true : undefined),
      'the sweep to relay the acknowledgement',
    );
    await world.queue.send(topic, 'next', { groupKey: group });
    await until(async () => (deliveries.length > 1 ? true : undefined), 'the group’s next message');
    release();
    await consumer.stop();
    expect(deliveries.map((message) => message.payload)).toEqual(['claimed', 'next']);
    await world.close();
  });
});

describe('world-redis: an append with claims whose reply was lost', () => {
  it('reports the claims it took, in its partition and through the relay', async () => {
    const proxy = await startReplyDroppingProxy(redisUrl);
    const world = createRedisWorld({ url: proxy.url, prefix: freshPrefix(), pollIntervalMs: 50 });
    await world.open();
    const keys = keysOf(world);
    const topic = 'claims.lost-reply';
    const { runId, tail } = await startedRun(world);
    const home = keys.partitionOf(`run:${runId}`);
    const elsewhere = firstName(`msg_lost_${runId}_`, (id) => keys.partitionOf(id) !== home);
    // One claim the append takes itself (grouped by its run), one the relay takes.
    const dropped = proxy.dropNextReplyContaining('"claims":"10"');
    const result = await world.events.create(runId, step('claims'), {
      lastKnownEventId: tail,
      enqueue: [
        { topic, payload: 'here', options: { groupKey: runId }, claim: { leaseMs: 60_000 } },
        { topic, payload: 'elsewhere', claim: { leaseMs: 60_000, messageId: elsewhere, token: 'claim_lost' } },
      ],
    });
    await dropped;
    expect(result.claims).toHaveLength(2);
    expect(result.claims![0]).toMatchObject({ topic, groupKey: runId });
    expect(result.claims![1]).toEqual({ topic, messageId: elsewhere, token: 'claim_lost' });
    const deliveries: QueueMessage[] = [];
    const consumer = world.queue.consume(topic, async (message) => {
      deliveries.push(message);
    });
    // Both claims hold under the reported tokens: handed back, each is delivered once, as attempt 2.
    for (const claim of result.claims!) expect(await world.queue.settleClaim!(claim, { retryAfterMs: 0 })).toBe(true);
    await until(async () => (deliveries.length >= 2 ? true : undefined), 'the handed-back claims');
    await world.queue.send(topic, 'marker');
    await until(async () => (deliveries.length >= 3 ? true : undefined), 'a marker after them');
    await consumer.stop();
    expect(deliveries.map((message) => [message.payload, message.attempt]).sort()).toEqual([
      ['elsewhere', 2],
      ['here', 2],
      ['marker', 1],
    ]);
    await world.close();
    await proxy.close();
  });
});
