import type { DeliveryControl } from '@cairn/core/world';
import { expect } from 'vitest';
import { type ConformanceOptions, deferred, section, within } from './helpers.js';
import { consume } from './queue.js';
import { requireClaims } from './queue-claims.js';
import { startedRun, stepCreated } from './requests.js';

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
  });
}
