import type { DeliveryControl, QueueHandler } from '@cairn/core/world';
import { expect } from 'vitest';
import { type ConformanceOptions, type Deferred, deferred, section, within } from './helpers.js';
import { consume } from './queue.js';
import { requireClaims } from './queue-claims.js';
import { startedRun, stepCreated } from './requests.js';

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const byPayload = (x: [unknown, number], y: [unknown, number]) =>
  String(x[0]).localeCompare(String(y[0])) || x[1] - y[1];

/**
 * What a handler records of its deliveries: each one's payload and attempt as it starts
 * (`started`), a promise of a given one's start (`arrival`), and how many handlers ran at
 * once at most (`enter` when a handler starts; call what it returns when it ends).
 */
function recordDeliveries() {
  const seen: [unknown, number][] = [];
  const arrivals = new Map<string, Deferred<void>>();
  const arrivalOf = (payload: unknown, attempt: number) => {
    const key = JSON.stringify([payload, attempt]);
    let arrival = arrivals.get(key);
    if (!arrival) {
      arrival = deferred();
      arrivals.set(key, arrival);
    }
    return arrival;
  };
  let running = 0;
  let mostAtOnce = 0;
  return {
    seen,
    /** `body` as a handler whose deliveries are recorded: each message seen, and how many run at once. */
    handler(body: QueueHandler): QueueHandler {
      return async (message, delivery) => {
        running += 1;
        mostAtOnce = Math.max(mostAtOnce, running);
        seen.push([message.payload, message.attempt]);
        arrivalOf(message.payload, message.attempt).resolve();
        try {
          await body(message, delivery);
        } finally {
          running -= 1;
        }
      };
    },
    arrival: (payload: unknown, attempt = 1): Promise<void> => arrivalOf(payload, attempt).promise,
    mostAtOnce: () => mostAtOnce,
  };
}

/**
 * A delivery's lease as a claim (`DeliveryControl.claim`): settled by an append that
 * acknowledges it, or through `queue.extendClaim` and `queue.settleClaim` while its handler runs.
 */
export function describeQueueDeliveryClaims(options: ConformanceOptions): void {
  section(options, 'queue', 'claims of deliveries', (test) => {
    test('a delivery that carries a claim is settled by an append that acknowledges it', async (scope) => {
      requireClaims(scope);
      const { world } = scope;
      const topic = 'conformance.delivery-claim';
      const { runId, tail } = await startedRun(world);
      const payloads: unknown[] = [];
      const arrived = { next: deferred(), marker: deferred() };
      const handled = deferred<DeliveryControl>();
      consume(
        scope,
        topic,
        async (message, delivery) => {
          payloads.push(message.payload);
          if (message.payload === 'next-in-group') return arrived.next.resolve();
          if (message.payload === 'marker') return arrived.marker.resolve();
          if (delivery.claim === undefined) return handled.resolve(delivery);
          expect(delivery.claim).toMatchObject({ topic, messageId: message.messageId, groupKey: 'group-d' });
          await world.events.create(runId, stepCreated('settles-the-delivery'), {
            lastKnownEventId: tail,
            acknowledge: [delivery.claim],
          });
          delivery.acknowledgedByAppend!();
          handled.resolve(delivery);
        },
        { concurrency: 4, leaseMs: 400, retryBackoff: { initialMs: 10, maxMs: 10 } },
      );
      await world.queue.send(topic, 'first', { groupKey: 'group-d' });
      const control = await within(handled.promise, 10_000, 'the first delivery');
      if (control.claim === undefined) {
        scope.skipBecause(
          'this World’s deliveries carry no claim (DeliveryControl.claim); its consumer acknowledges them',
        );
      }
      expect(control.acknowledgedByAppend).toBeTypeOf('function');
      await world.queue.send(topic, 'next-in-group', { groupKey: 'group-d' });
      await within(arrived.next.promise, 10_000, 'the group’s next message once the append acknowledged the first');
      // Past the first's lease and backoff: had the append not settled it, it would be back by now.
      await world.queue.send(topic, 'marker', { delayMs: 700 });
      await within(arrived.marker.promise, 10_000, 'a marker sent to arrive after the first would have lapsed');
      expect(payloads).toEqual(['first', 'next-in-group', 'marker']);
      expect(await world.queue.settleClaim!(control.claim!, { acknowledge: true }), 'nor settled again').toBe(false);
    });
    test('a delivery whose claim is extended through queue.extendClaim keeps its lease and its slot, and is acknowledged once', async (scope) => {
      requireClaims(scope);
      const { world } = scope;
      const topic = 'conformance.delivery-claim-extend';
      const leaseMs = 400;
      // Far past the handler's work, so a delivery still held when it ends can only be one
      // whose acknowledgement was never written.
      const extendedMs = 5000;
      const record = recordDeliveries();
      const extension = deferred<{ control: DeliveryControl; extended?: boolean; at: number }>();
      const anotherStarted = deferred();
      consume(
        scope,
        topic,
        record.handler(async (message, delivery) => {
          if (message.payload !== 'long' || message.attempt !== 1) return anotherStarted.resolve();
          if (delivery.claim === undefined) return extension.resolve({ control: delivery, at: Date.now() });
          const at = Date.now();
          const extended = await world.queue.extendClaim!(delivery.claim, extendedMs);
          extension.resolve({ control: delivery, extended, at });
          // Works past its original lease. Had the delivery kept the original lease, its slot
          // would be given up meanwhile and another delivery would start in it: no point
          // waiting longer then.
          await Promise.race([anotherStarted.promise, pause(leaseMs * 2)]);
        }),
        { concurrency: 1, leaseMs, retryBackoff: { initialMs: 10, maxMs: 10 } },
      );
      await world.queue.send(topic, 'long', { groupKey: 'group-e' });
      const { control, extended, at: extendedAt } = await within(extension.promise, 10_000, 'the long delivery');
      if (control.claim === undefined) {
        scope.skipBecause('this World’s deliveries carry no claim (DeliveryControl.claim) to extend');
      }
      expect(extended, 'the delivery’s claim is extended').toBe(true);
      // Due while the long delivery runs, with the consumer's only slot taken.
      await world.queue.send(topic, 'other');
      await within(record.arrival('other'), 10_000, 'the other message, once the long delivery was done');
      // The group frees only once the long message is settled: before its extended lease
      // ends, only if its acknowledgement was written.
      await world.queue.send(topic, 'next-in-group', { groupKey: 'group-e' });
      await within(record.arrival('next-in-group'), 10_000, 'the group’s next message');
      const nextAt = Date.now();
      // Past a retry's backoff: a long message handed back instead would be here by now.
      await world.queue.send(topic, 'marker', { delayMs: 200 });
      await within(record.arrival('marker'), 10_000, 'a marker sent to arrive after any redelivery');
      expect({
        deliveries: [...record.seen].sort(byPayload),
        mostAtOnce: record.mostAtOnce(),
        groupFreedBeforeExtensionEnded: nextAt < extendedAt + extendedMs,
      }).toEqual({
        deliveries: [
          ['long', 1],
          ['marker', 1],
          ['next-in-group', 1],
          ['other', 1],
        ],
        mostAtOnce: 1,
        groupFreedBeforeExtensionEnded: true,
      });
      expect(await world.queue.extendClaim!(control.claim!, 1000), 'an acknowledged claim cannot be extended').toBe(
        false,
      );
    });

    test('a delivery whose claim is settled through queue.settleClaim stays settled whatever its handler does after', async (scope) => {
      requireClaims(scope);
      const { world } = scope;
      const topic = 'conformance.delivery-claim-settle';
      const record = recordDeliveries();
      const settlements: [unknown, boolean][] = [];
      const firstHandled = deferred<{ hadClaim: boolean }>();
      consume(
        scope,
        topic,
        record.handler(async (message, delivery) => {
          if (message.attempt !== 1 || message.payload === 'marker') return;
          if (delivery.claim === undefined) return firstHandled.resolve({ hadClaim: false });
          if (message.payload === 'acknowledged') {
            settlements.push(['acknowledged', await world.queue.settleClaim!(delivery.claim, { acknowledge: true })]);
            firstHandled.resolve({ hadClaim: true });
            // Would hand the message back, had its claim not been settled already.
            throw new Error('failed after its claim was acknowledged');
          }
          settlements.push(['handed-back', await world.queue.settleClaim!(delivery.claim, { retryAfterMs: 0 })]);
          // Resolving would acknowledge the message, had its claim not been handed back.
        }),
        { concurrency: 1, leaseMs: 2000, retryBackoff: { initialMs: 10, maxMs: 10 } },
      );
      await world.queue.send(topic, 'acknowledged', { groupKey: 'group-s' });
      const { hadClaim } = await within(firstHandled.promise, 10_000, 'the first delivery');
      if (!hadClaim) {
        scope.skipBecause('this World’s deliveries carry no claim (DeliveryControl.claim) to settle');
      }
      await world.queue.send(topic, 'handed-back', { groupKey: 'group-s' });
      await within(record.arrival('handed-back', 2), 10_000, 'the handed-back message, delivered again');
      // Past a retry's backoff: the acknowledged message, had its handler's failure handed it
      // back, would be here by now.
      await world.queue.send(topic, 'marker', { delayMs: 300 });
      await within(record.arrival('marker'), 10_000, 'a marker sent to arrive after any redelivery');
      expect({
        settlements,
        deliveries: [...record.seen].sort(byPayload),
        mostAtOnce: record.mostAtOnce(),
      }).toEqual({
        settlements: [
          ['acknowledged', true],
          ['handed-back', true],
        ],
        deliveries: [
          ['acknowledged', 1],
          ['handed-back', 1],
          ['handed-back', 2],
          ['marker', 1],
        ],
        mostAtOnce: 1,
      });
    });
  });
}
