import { InvalidInputError, maxQueueDelayMs, type QueueHandler, type QueueMessage } from '@cairn/core/world';
import { expect } from 'vitest';
import { type ConformanceOptions, deferred, expectError, section, settleIo, within } from './helpers.js';
import { consume } from './queue.js';

interface GroupedPayload {
  group: string;
  index: number;
}

/**
 * A handler that takes a few milliseconds of async work and records how many messages
 * were in flight, per group and in total, while it ran.
 */
function trackingHandler(expected: number) {
  const inFlight = new Map<string, number>();
  const maxPerGroup = new Map<string, number>();
  const order = new Map<string, number[]>();
  const attempts: number[] = [];
  const all = deferred();
  const stats = { total: 0, maxTotal: 0, delivered: 0 };
  const handler: QueueHandler = async (message: QueueMessage) => {
    const { group, index } = message.payload as unknown as GroupedPayload;
    inFlight.set(group, (inFlight.get(group) ?? 0) + 1);
    maxPerGroup.set(group, Math.max(maxPerGroup.get(group) ?? 0, inFlight.get(group)!));
    stats.total += 1;
    stats.maxTotal = Math.max(stats.maxTotal, stats.total);
    order.set(group, [...(order.get(group) ?? []), index]);
    attempts.push(message.attempt);
    // Simulated work, so that deliveries of different groups overlap.
    await new Promise((resolve) => setTimeout(resolve, 5));
    inFlight.set(group, inFlight.get(group)! - 1);
    stats.total -= 1;
    stats.delivered += 1;
    if (stats.delivered === expected) all.resolve();
  };
  return { handler, maxPerGroup, order, attempts, all, stats };
}

/** Sends `perGroup` messages to each group: groups in parallel, each group's in order. */
async function sendGroups(
  send: (payload: GroupedPayload, groupKey: string) => Promise<unknown>,
  groups: string[],
  perGroup: number,
) {
  await Promise.all(
    groups.map(async (group) => {
      for (let index = 0; index < perGroup; index += 1) await send({ group, index }, group);
    }),
  );
}

/** Group exclusivity, stopping consumers, and bad queue input. */
export function describeQueueGroups(options: ConformanceOptions): void {
  section(options, 'queue', 'queue groups and consumers', (test) => {
    test('one message per group in flight, in send order, while other groups run concurrently', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.groups';
      const groups = ['g-a', 'g-b', 'g-c', 'g-d'];
      const perGroup = 10;
      await sendGroups((payload, groupKey) => world.queue.send(topic, { ...payload }, { groupKey }), groups, perGroup);
      const tracker = trackingHandler(groups.length * perGroup);
      consume(scope, topic, tracker.handler, { concurrency: 8 });
      await within(tracker.all.promise, 20_000, 'all grouped messages to be handled');

      for (const group of groups) {
        expect(tracker.maxPerGroup.get(group), `most in flight at once in ${group}`).toBe(1);
        expect(tracker.order.get(group), `delivery order of ${group}`).toEqual(
          Array.from({ length: perGroup }, (_, index) => index),
        );
      }
      expect(tracker.stats.maxTotal, 'different groups were in flight together').toBeGreaterThan(1);
      expect(tracker.stats.maxTotal).toBeLessThanOrEqual(8);
      expect(tracker.attempts.every((attempt) => attempt === 1)).toBe(true);
    }, 30_000);

    test('group exclusivity holds across two consumers of one topic', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.groups-shared';
      const groups = ['x', 'y', 'z'];
      const perGroup = 6;
      const tracker = trackingHandler(groups.length * perGroup);
      consume(scope, topic, tracker.handler, { concurrency: 4 });
      consume(scope, topic, tracker.handler, { concurrency: 4 });
      await sendGroups((payload, groupKey) => world.queue.send(topic, { ...payload }, { groupKey }), groups, perGroup);
      await within(tracker.all.promise, 20_000, 'all grouped messages to be handled');
      for (const group of groups) {
        expect(tracker.maxPerGroup.get(group), `most in flight at once in ${group}`).toBe(1);
        expect(tracker.order.get(group)).toEqual(Array.from({ length: perGroup }, (_, index) => index));
      }
    }, 30_000);

    test("a message handed back for a retry is its group's next delivery once due", async (scope) => {
      const { world } = scope;
      const topic = 'conformance.group-retry';
      const order: string[] = [];
      const done = deferred();
      // Sent before any consumer exists, so the whole group is queued when delivery starts.
      for (const name of ['m1', 'm2', 'm3', 'm4']) await world.queue.send(topic, name, { groupKey: 'g' });
      consume(
        scope,
        topic,
        async (message) => {
          order.push(`${String(message.payload)}#${message.attempt}`);
          if (message.payload === 'm1' && message.attempt === 1) throw new Error('first attempt fails on purpose');
          if (order.length === 5) done.resolve();
        },
        { retryBackoff: { initialMs: 0 } },
      );
      await within(done.promise, 5000, 'the group to be delivered');
      // Due at once after the failure, m1 is still the group's oldest message: it goes next,
      // not behind m2..m4.
      expect(order).toEqual(['m1#1', 'm1#2', 'm2#1', 'm3#1', 'm4#1']);
    });

    test('a retried message that falls due while its group is busy goes next, before later ones', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.group-retry-backoff';
      const backoffMs = 100;
      const order: string[] = [];
      const done = deferred();
      const names = ['m1', 'm2', 'm3', 'm4', 'm5'];
      for (const name of names) await world.queue.send(topic, name, { groupKey: 'g' });
      let failedAt = 0;
      consume(
        scope,
        topic,
        async (message) => {
          order.push(`${String(message.payload)}#${message.attempt}`);
          if (message.payload === 'm1' && message.attempt === 1) {
            failedAt = Date.now();
            throw new Error('first attempt fails on purpose');
          }
          // m2 may take the group during m1's backoff (the contract allows it); it works
          // until m1 is long due, so m1 is waiting when the group frees up again.
          if (message.payload === 'm2')
            await new Promise((resolve) => setTimeout(resolve, failedAt + 3 * backoffMs - Date.now()));
          if (order.length === names.length + 1) done.resolve();
        },
        { retryBackoff: { initialMs: backoffMs } },
      );
      await within(done.promise, 5000, 'the group to be delivered');
      expect(order).toEqual(['m1#1', 'm2#1', 'm1#2', 'm3#1', 'm4#1', 'm5#1']);
    });

    test('stop() waits for in-flight handlers and starts no delivery afterwards', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.stop';
      const started = deferred();
      const release = deferred();
      scope.defer(() => release.resolve());
      let handled = 0;
      let finished = false;
      const consumer = consume(scope, topic, async () => {
        handled += 1;
        started.resolve();
        await release.promise;
        finished = true;
      });
      await world.queue.send(topic, 'in flight');
      await within(started.promise, 5000, 'the first delivery');

      let stopped = false;
      const stopping = consumer.stop().then(() => {
        stopped = true;
      });
      await settleIo(world);
      expect(stopped, 'stop() must wait for the handler still running').toBe(false);
      release.resolve();
      await within(stopping, 5000, 'stop() after the handler settled');
      expect(finished).toBe(true);
      await within(consumer.stop(), 5000, 'a second stop()');

      // Sent after stop: the stopped consumer must not take it, another consumer gets it.
      await world.queue.send(topic, 'after stop');
      const taken = deferred<QueueMessage>();
      consume(scope, topic, async (message) => taken.resolve(message));
      const message = await within(taken.promise, 5000, 'the message sent after stop');
      expect(message.payload, 'the in-flight message was acknowledged before stop resolved').toBe('after stop');
      expect(handled).toBe(1);
    });

    test('bad topics, options and payloads are InvalidInputError naming the field, and queue nothing', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.bad-input';
      const sends: [unknown[], string][] = [
        [['', 1], 'topic'],
        [['has space', 1], 'topic'],
        [['t'.repeat(129), 1], 'topic'],
        [[topic, 1, { delayMs: -1 }], 'options.delayMs'],
        [[topic, 1, { delayMs: 1.5 }], 'options.delayMs'],
        [[topic, 1, { delayMs: maxQueueDelayMs + 1 }], 'options.delayMs'],
        [[topic, 1, { idempotencyKey: '' }], 'options.idempotencyKey'],
        [[topic, 1, { groupKey: 'with space' }], 'options.groupKey'],
        [[topic, 1, { priority: 5 }], 'options.priority'],
        [[topic, undefined], 'payload'],
        [[topic, () => 1], 'payload'],
        [[topic, { amount: 10n }], 'payload'],
      ];
      for (const [args, field] of sends) {
        const send = world.queue.send as (...args: unknown[]) => Promise<unknown>;
        const error = await expectError(send(...args), InvalidInputError);
        expect(error.field.startsWith(field), `send(${String(args[0])}...) names ${field}, got ${error.field}`).toBe(
          true,
        );
      }
      const consumes: [unknown[], string][] = [
        [['bad topic', async () => {}], 'topic'],
        [[topic, async () => {}, { concurrency: 0 }], 'options.concurrency'],
        [[topic, async () => {}, { leaseMs: 1 }], 'options.leaseMs'],
      ];
      for (const [args, field] of consumes) {
        const start = world.queue.consume as (...args: unknown[]) => { stop(): Promise<void> };
        const error = await expectError(() => start(...args), InvalidInputError);
        expect(error.field).toBe(field);
      }

      // Nothing was queued: the first message the topic delivers is the one sent now.
      const first = deferred<QueueMessage>();
      consume(scope, topic, async (message) => first.resolve(message));
      await world.queue.send(topic, 'valid');
      expect((await within(first.promise, 5000, 'the valid message')).payload).toBe('valid');
    });
  });
}
