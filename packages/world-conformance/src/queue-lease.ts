import { type DeliveryControl, InvalidInputError, type QueueMessage } from '@cairn/core/world';
import { expect } from 'vitest';
import { type ConformanceOptions, deferred, expectError, section, within } from './helpers.js';
import { consume } from './queue.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns true, failing with `what` after `ms`. */
async function eventually(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) expect.fail(`timed out after ${ms} ms waiting for ${what}`);
    await pause(10);
  }
}

/** `DeliveryControl.extendLease`: a handler that keeps extending keeps its message. */
export function describeQueueLeases(options: ConformanceOptions): void {
  section(options, 'queue', 'queue lease extension', (test) => {
    test('a handler that extends its lease keeps the message past the original lease, and its ack holds', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.extend';
      const leaseMs = 200;
      const deliveries: { message: QueueMessage; at: number }[] = [];
      const extensions: boolean[] = [];
      const firstDone = deferred<number>();
      const chainDone = deferred();
      consume(
        scope,
        topic,
        async (message, delivery) => {
          deliveries.push({ message, at: Date.now() });
          if (message.payload !== 'long') {
            if (message.payload === 'third') chainDone.resolve();
            return;
          }
          // Work for three original leases, extending every half lease. A lapse would show as
          // a second delivery of this message (the consumer has a free slot for it).
          const started = Date.now();
          while (Date.now() - started < leaseMs * 3) {
            await pause(leaseMs / 2);
            extensions.push(await delivery.extendLease());
          }
          firstDone.resolve(Date.now());
        },
        { leaseMs, concurrency: 2, retryBackoff: { initialMs: 10, maxMs: 10 } },
      );
      const long = await world.queue.send(topic, 'long', { groupKey: 'g' });
      const second = await world.queue.send(topic, 'second', { groupKey: 'g' });
      const finishedAt = await within(firstDone.promise, 5000, 'the long handler to finish');
      expect(extensions.length).toBeGreaterThanOrEqual(5);
      expect(
        extensions.every((extended) => extended),
        'every extension while holding the lease succeeds',
      ).toBe(true);
      const third = await world.queue.send(topic, 'third', { groupKey: 'g' });
      await within(chainDone.promise, 5000, 'the rest of the group after the long message');

      const ids = deliveries.map((entry) => entry.message.messageId);
      expect(ids, 'the long message is delivered once; its ack is honoured').toEqual([
        long.messageId,
        second.messageId,
        third.messageId,
      ]);
      // The group stayed exclusive for the whole extended lease.
      expect(deliveries[1]!.at).toBeGreaterThanOrEqual(finishedAt);
      expect(deliveries[0]!.message.attempt).toBe(1);
    });

    test('extending after the lease was lost or the delivery was settled resolves false', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.extend-lost';
      const leaseMs = 100;
      const firstControl = deferred<DeliveryControl>();
      const releaseFirst = deferred();
      const secondStarted = deferred<DeliveryControl>();
      const releaseSecond = deferred();
      const secondDone = deferred();
      scope.defer(() => {
        releaseFirst.resolve();
        releaseSecond.resolve();
      });
      const handler = async (message: QueueMessage, delivery: DeliveryControl) => {
        if (message.attempt === 1) {
          firstControl.resolve(delivery);
          await releaseFirst.promise; // parked past its lease, like a paused worker
          return;
        }
        secondStarted.resolve(delivery);
        await releaseSecond.promise;
        secondDone.resolve();
      };
      const consumerOptions = { leaseMs, retryBackoff: { initialMs: 10, maxMs: 10 } };
      consume(scope, topic, handler, consumerOptions);
      consume(scope, topic, handler, consumerOptions);
      await world.queue.send(topic, 'job');
      const stale = await within(firstControl.promise, 5000, 'the first delivery');
      const current = await within(secondStarted.promise, 5000, 'the redelivery after the lease ran out');

      // The message now belongs to the second delivery: the first cannot take it back.
      expect(await stale.extendLease()).toBe(false);
      expect(await stale.extendLease(10_000)).toBe(false);
      expect(await current.extendLease(10_000)).toBe(true);

      releaseSecond.resolve();
      await within(secondDone.promise, 5000, 'the second handler to finish');
      // Settled (acknowledged): nothing is left to extend.
      await eventually(async () => !(await current.extendLease()), 5000, 'extendLease to report the settled lease');
      releaseFirst.resolve();
    });

    test('extendLease with a bad leaseMs throws InvalidInputError naming leaseMs', async (scope) => {
      const { world } = scope;
      const topic = 'conformance.extend-bad';
      const outcome = deferred<unknown[]>();
      consume(scope, topic, async (_message, delivery) => {
        const errors: unknown[] = [];
        for (const bad of [5, 1.5, -1, Number.NaN, 86_400_001, '100']) {
          try {
            await delivery.extendLease(bad as number);
            errors.push(`accepted ${String(bad)}`);
          } catch (error) {
            errors.push(error);
          }
        }
        outcome.resolve(errors);
      });
      await world.queue.send(topic, 'job');
      const errors = await within(outcome.promise, 5000, 'the handler to try bad lease lengths');
      for (const error of errors) {
        const typed = await expectError(Promise.reject(error), InvalidInputError);
        expect(typed.field).toBe('leaseMs');
      }
    });
  });
}
