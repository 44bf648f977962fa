import type { ConsumeOptions, QueueConsumer, QueueHandler, QueueMessage } from '@cairn/core/world';
import { queueMessageSchema } from '@cairn/core/world';
import { expect } from 'vitest';
import { type ConformanceOptions, deferred, type Scope, section, settleIo, within } from './helpers.js';

/** Starts a consumer that is stopped when the test ends, whatever happens. */
export function consume(scope: Scope, topic: string, handler: QueueHandler, options?: ConsumeOptions): QueueConsumer {
  const consumer = scope.world.queue.consume(topic, handler, options);
  scope.defer(() => consumer.stop());
  return consumer;
}

interface Delivery {
  message: QueueMessage;
  at: number;
}

/** Delivery, delay, redelivery, leases and idempotency keys. */
export function describeQueueDelivery(options: ConformanceOptions): void {
  section(options, 'queue', 'queue delivery', (test) => {
    test('a message is delivered with its id, topic, payload and attempt 1', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.immediate';
      const delivered: QueueMessage[] = [];
      const second = deferred();
      consume(scope, topic, async (message) => {
        delivered.push(message);
        if (delivered.length === 2) second.resolve();
      });
      const payload = { order: 'o-1', items: [1, 2, { deep: null }], ok: true };
      const first = await world.queue.send(topic, payload);
      const other = await world.queue.send(topic, 'plain string');
      expect(first.deduplicated).toBe(false);
      expect(other.messageId).not.toBe(first.messageId);
      await within(second.promise, 5000, 'two immediate messages to be delivered');

      const message = delivered.find((candidate) => candidate.messageId === first.messageId)!;
      expect(message).toMatchObject({ messageId: first.messageId, topic, payload, attempt: 1 });
      expect(queueMessageSchema.safeParse(message).success).toBe(true);
      expect(message.deliverAt).toBeGreaterThanOrEqual(message.enqueuedAt);
      expect(delivered.find((candidate) => candidate.messageId === other.messageId)?.payload).toBe('plain string');
    });

    test('a delayed message is never delivered before its delay; later immediate ones are not held up', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.delayed';
      const deliveries: Delivery[] = [];
      const both = deferred();
      consume(scope, topic, async (message) => {
        deliveries.push({ message, at: Date.now() });
        if (deliveries.length === 2) both.resolve();
      });
      const sentAt = Date.now();
      const delayed = await world.queue.send(topic, 'later', { delayMs: 300 });
      const immediate = await world.queue.send(topic, 'now');
      await within(both.promise, 5000, 'the immediate and the delayed message');

      expect(deliveries.map((delivery) => delivery.message.messageId)).toEqual([
        immediate.messageId,
        delayed.messageId,
      ]);
      const late = deliveries[1]!;
      expect(late.at - sentAt, 'handler started at least delayMs after the send began').toBeGreaterThanOrEqual(300);
      expect(late.message.deliverAt).toBeGreaterThanOrEqual(late.message.enqueuedAt + 300);
      expect(late.message.attempt).toBe(1);
    });

    test('a rejected delivery comes back with the same id, attempt 2 and the same payload', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.retry';
      const deliveries: QueueMessage[] = [];
      const redelivered = deferred<QueueMessage>();
      consume(
        scope,
        topic,
        async (message) => {
          deliveries.push(structuredClone(message));
          if (message.attempt === 1) throw new Error('first attempt fails on purpose');
          redelivered.resolve(message);
        },
        { retryBackoff: { initialMs: 20 } },
      );
      const payload = { charge: 500, currency: 'EUR' };
      const { messageId } = await world.queue.send(topic, payload, { groupKey: 'g-1' });
      const second = await within(redelivered.promise, 5000, 'the redelivery after a rejection');
      expect(second).toMatchObject({ messageId, attempt: 2, payload, topic, groupKey: 'g-1' });
      expect(deliveries.map((message) => message.attempt)).toEqual([1, 2]);
      expect(deliveries[0]!.payload).toEqual(payload);
    });

    test('a backoff factor that is not whole retries after its backoff, not after the lease', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.retry-fractional';
      const attempts: number[] = [];
      const third = deferred<QueueMessage>();
      // 5 ms, then 7.5 ms: the second retry's delay is not a whole number of milliseconds.
      consume(
        scope,
        topic,
        async (message) => {
          attempts.push(message.attempt);
          if (message.attempt < 3) throw new Error('fails on purpose');
          third.resolve(message);
        },
        { leaseMs: 60_000, retryBackoff: { initialMs: 5, factor: 1.5, maxMs: 1000 } },
      );
      const { messageId } = await world.queue.send(topic, 'try thrice');
      // Well inside the 60 s lease: a retry the World failed to write would wait out the lease.
      const delivered = await within(third.promise, 10_000, 'the third attempt, after two backoffs');
      expect(delivered).toMatchObject({ messageId, attempt: 3 });
      expect(attempts).toEqual([1, 2, 3]);
    });

    test('an expired lease hands the message to another consumer; the late settlement is ignored', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.lease';
      const leaseMs = 150;
      const deliveries: Delivery[] = [];
      const firstStarted = deferred();
      const releaseFirst = deferred();
      const secondStarted = deferred();
      const failSecond = deferred();
      const thirdStarted = deferred<QueueMessage>();
      scope.defer(() => {
        releaseFirst.resolve();
        failSecond.resolve();
      });
      const handler: QueueHandler = async (message) => {
        deliveries.push({ message, at: Date.now() });
        if (message.attempt === 1) {
          firstStarted.resolve();
          // Parked past its lease, as a crashed or paused worker would be.
          await releaseFirst.promise;
          return;
        }
        if (message.attempt === 2) {
          secondStarted.resolve();
          await failSecond.promise;
          throw new Error('second attempt fails on purpose');
        }
        thirdStarted.resolve(message);
      };
      const consumerOptions = { leaseMs, retryBackoff: { initialMs: 20 } };
      consume(scope, topic, handler, consumerOptions);
      consume(scope, topic, handler, consumerOptions);
      const { messageId } = await world.queue.send(topic, { job: 'lease' });

      await within(firstStarted.promise, 5000, 'the first delivery');
      await within(secondStarted.promise, 5000, 'the redelivery after the lease expired');
      const [first, second] = deliveries;
      expect(second!.message).toMatchObject({ messageId, attempt: 2, payload: { job: 'lease' } });
      // The lease starts a moment before the handler does, so allow a little slack.
      expect(second!.at - first!.at, 'not redelivered before the lease ran out').toBeGreaterThanOrEqual(leaseMs - 20);

      // The first attempt now finishes late. That must not acknowledge the message: when
      // the second attempt fails, the message comes back a third time.
      releaseFirst.resolve();
      await settleIo(world);
      failSecond.resolve();
      const third = await within(thirdStarted.promise, 5000, 'a third delivery after the second attempt failed');
      expect(third).toMatchObject({ messageId, attempt: 3 });
      expect(deliveries.map((delivery) => delivery.message.attempt)).toEqual([1, 2, 3]);

      // The queue keeps working for new messages.
      const next = deferred();
      consume(scope, 'conformance.lease-after', async () => next.resolve());
      await world.queue.send('conformance.lease-after', 'next');
      await within(next.promise, 5000, 'a message on another topic after the lease handoff');
    });

    test('an idempotency key deduplicates sends on its topic while the message is queued', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.idem';
      const original = await world.queue.send(topic, { v: 1 }, { idempotencyKey: 'order-7', groupKey: 'g' });
      const repeat = await world.queue.send(topic, { v: 2 }, { idempotencyKey: 'order-7', groupKey: 'g' });
      expect(repeat).toEqual({ messageId: original.messageId, deduplicated: true });
      // Keys are per topic.
      const elsewhere = await world.queue.send('conformance.idem-other', { v: 3 }, { idempotencyKey: 'order-7' });
      expect(elsewhere.deduplicated).toBe(false);
      expect(elsewhere.messageId).not.toBe(original.messageId);
      // Same group, sent last: delivered only after the original, since a group goes in send order.
      const sentinel = await world.queue.send(topic, 'sentinel', { groupKey: 'g' });

      const deliveries: QueueMessage[] = [];
      const sentinelSeen = deferred();
      consume(scope, topic, async (message) => {
        deliveries.push(message);
        if (message.messageId === sentinel.messageId) sentinelSeen.resolve();
      });
      await within(sentinelSeen.promise, 5000, 'the sentinel after the deduplicated message');
      expect(deliveries.map((message) => message.messageId)).toEqual([original.messageId, sentinel.messageId]);
      expect(deliveries[0]).toMatchObject({ payload: { v: 1 }, idempotencyKey: 'order-7', groupKey: 'g' });
    });

    test('an idempotency key still deduplicates after its message was acknowledged', async (scope) => {
      const { world } = scope;
      const retention = world.capabilities.queue.idempotencyRetentionMs;
      if (retention < 5000) scope.skipBecause(`capabilities.queue.idempotencyRetentionMs is only ${retention} ms`);
      const topic = 'conformance.idem-acked';
      const seen: string[] = [];
      const waiting = new Map<string, () => void>();
      consume(scope, topic, async (message) => {
        seen.push(message.messageId);
        waiting.get(message.messageId)?.();
      });
      /** Sends a marker in group g and waits for it: everything before it in g has been acked. */
      const drain = async () => {
        const marker = deferred();
        const { messageId } = await world.queue.send(topic, 'marker', { groupKey: 'g' });
        waiting.set(messageId, () => marker.resolve());
        if (seen.includes(messageId)) marker.resolve();
        await within(marker.promise, 5000, 'a marker message');
      };
      const first = await world.queue.send(topic, 'once', { idempotencyKey: 'k', groupKey: 'g' });
      await drain();
      const again = await world.queue.send(topic, 'twice', { idempotencyKey: 'k', groupKey: 'g' });
      expect(again).toEqual({ messageId: first.messageId, deduplicated: true });
      await drain();
      expect(seen.filter((messageId) => messageId === first.messageId)).toHaveLength(1);
    });
  });
}
