import type { World } from '@cairn/core/world';
import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisWorld } from '../src/index.js';
import { clusterNodes, createTestWorld, freshPrefix, redisUrl, type Topology } from './helpers.js';

const opened: World[] = [];
const clients: (Redis | Cluster)[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
  for (const client of clients.splice(0)) client.disconnect();
});

const clusterAddresses = () => clusterNodes.map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) }));

/** A started run and its tail's event id. */
async function startedRun(world: World): Promise<{ runId: string; tail: string }> {
  const [, started] = await world.events.createBatch(null, [
    { eventType: 'run_created', eventData: { workflowName: 'w' } },
    { eventType: 'run_started' },
  ]);
  return { runId: started!.run.runId, tail: started!.event.eventId };
}

/**
 * A client for the World that counts the reads of a run (a watch's `HMGET` of the tail and
 * status, or `HGETALL` of the whole run) and the notifications its pub/sub connection has handed to the World.
 */
function countingClient(topology: Topology) {
  const client =
    topology === 'single'
      ? new Redis(redisUrl, { lazyConnect: true })
      : new Cluster(clusterAddresses(), { lazyConnect: true });
  clients.push(client);
  let runReads = 0;
  let heard = 0;
  const listeners = new Set<() => void>();
  const changed = () => {
    for (const listener of [...listeners]) listener();
  };
  const until = (reached: () => boolean) =>
    new Promise<void>((resolve) => {
      const listener = () => {
        if (!reached()) return;
        listeners.delete(listener);
        resolve();
      };
      listeners.add(listener);
      listener();
    });
  const hmget = client.hmget.bind(client) as (...args: unknown[]) => Promise<unknown>;
  (client as unknown as { hmget: (...args: unknown[]) => Promise<unknown> }).hmget = (...args) => {
    if (args[1] === 'lastSeq' && args[2] === 'status') {
      runReads += 1;
      changed();
    }
    return hmget(...args);
  };
  // A watch told only the end matters reads the whole run instead; so does runs.get.
  const hgetall = client.hgetall.bind(client) as (...args: unknown[]) => Promise<unknown>;
  (client as unknown as { hgetall: (...args: unknown[]) => Promise<unknown> }).hgetall = (...args) => {
    if (String(args[0]).includes(':r:')) {
      runReads += 1;
      changed();
    }
    return hgetall(...args);
  };
  const duplicate = client.duplicate.bind(client) as () => Redis | Cluster;
  (client as unknown as { duplicate: () => Redis | Cluster }).duplicate = () => {
    const copy = duplicate();
    clients.push(copy);
    // After the World's own listener, which is added as soon as this returns.
    queueMicrotask(() =>
      copy.on('message', () => {
        heard += 1;
        changed();
      }),
    );
    return copy;
  };
  return {
    client,
    runReads: () => runReads,
    runReadsAtLeast: (count: number) => until(() => runReads >= count),
    heardAtLeast: (count: number) => until(() => heard >= count),
  };
}

/*
 * A client waiting for a run's result watches with `untilEnded`. Answered at every event,
 * it watched again and read the run after each step: two round trips a step instead of one.
 */
describe.each<Topology>(['single', 'cluster'])('world-redis (%s): a watch told only the end matters', (topology) => {
  it('waits through the run’s steps and resolves once the run ended', async () => {
    const world = createTestWorld(topology);
    opened.push(world);
    const [, started] = await world.events.createBatch(null, [
      { eventType: 'run_created', eventData: { workflowName: 'w' } },
      { eventType: 'run_started' },
    ]);
    const { runId } = started!.run;
    const outcomes: string[] = [];
    const watching = world.events.watch(runId, 2, undefined, { untilEnded: true }).then((watched) => {
      outcomes.push('ended');
      return watched;
    });
    let tail = started!.event.eventId;
    for (const index of [0, 1, 2]) {
      const steps = await world.events.createBatch(
        runId,
        [
          { eventType: 'step_created', correlationId: `s${index}`, eventData: { stepName: 'echo' } },
          { eventType: 'step_started', correlationId: `s${index}` },
          { eventType: 'step_completed', correlationId: `s${index}`, eventData: { output: index } },
        ],
        { lastKnownEventId: tail },
      );
      tail = steps.at(-1)!.event.eventId;
      // Woken by the same notification, a plain watch behind the new tail has returned.
      await world.events.watch(runId, steps.at(-1)!.event.seq - 1);
      expect(outcomes, `after step ${index}`).toEqual([]);
    }
    const ended = await world.events.create(
      runId,
      { eventType: 'run_completed', eventData: { output: 3 } },
      { lastKnownEventId: tail },
    );
    // The tail it saw, with the ended run as runs.get returns it: a waiting client reads nothing more.
    const watched = await watching;
    expect(outcomes).toEqual(['ended']);
    expect(watched).toMatchObject({ lastSeq: ended.event.seq, status: 'completed' });
    expect(watched?.run).toEqual(await world.runs.get(runId));
  });
  it('reads the run once while it goes on, instead of at each step', async () => {
    const counted = countingClient(topology);
    // A long poll, so only notifications wake the watch.
    const world = createRedisWorld({ client: counted.client, prefix: freshPrefix(), pollIntervalMs: 60_000 });
    opened.push(world);
    const { runId, tail: startedTail } = await startedRun(world);
    let tail = startedTail;
    // A plain watch that answers at once, so that the World is subscribed before the watch
    // under test starts (subscribing wakes every waiter once, to look again).
    await world.events.watch(runId, 0);
    const before = counted.runReads();
    const stopWatching = new AbortController();
    const watching = world.events.watch(runId, 2, stopWatching.signal, { untilEnded: true });
    try {
      await counted.runReadsAtLeast(before + 1);
      for (let index = 0; index < 5; index++) {
        const heard = counted.heardAtLeast(index + 1);
        const { event } = await world.events.create(
          runId,
          { eventType: 'step_created', correlationId: `s${index}`, eventData: { stepName: 'echo' } },
          { lastKnownEventId: tail },
        );
        tail = event.eventId;
        await heard;
      }
      // A round trip more (one that reads no run): whatever the last notification set off in
      // this process has been sent.
      await world.steps.list(runId);
      // Five notifications went past, and the watch that waits for the end read the run once.
      expect(counted.runReads() - before).toBe(1);
    } finally {
      stopWatching.abort();
    }
    await watching;
  });

  it('looks again at a notification that carries no tail, as an older World sends', async () => {
    const counted = countingClient(topology);
    const prefix = freshPrefix();
    const world = createRedisWorld({ client: counted.client, prefix, pollIntervalMs: 60_000 });
    opened.push(world);
    const { runId } = await startedRun(world);
    const stopWatching = new AbortController();
    const watching = world.events.watch(runId, 2, stopWatching.signal, { untilEnded: true });
    const publisher = topology === 'single' ? new Redis(redisUrl) : new Cluster(clusterAddresses());
    try {
      // Subscribed and read once: the watch waits.
      await counted.runReadsAtLeast(1);
      await publisher.publish(`${prefix}:changes`, `e:${runId}`);
      await counted.runReadsAtLeast(2);
      expect(counted.runReads()).toBe(2);
    } finally {
      stopWatching.abort();
      publisher.disconnect();
    }
    await watching;
  });
});
