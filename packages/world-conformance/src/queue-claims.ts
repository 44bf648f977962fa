import { InvalidInputError, type QueueClaim, type QueueMessage, type World } from '@cairn/core/world';
import { expect } from 'vitest';
import { type ConformanceOptions, deferred, expectError, type Scope, section, within } from './helpers.js';
import { consume } from './queue.js';
import { startedRun, stepCreated } from './requests.js';

interface Delivery {
  message: QueueMessage;
  at: number;
}

/** Records every delivery of `topic`, resolving `arrived(payload)` when one with that payload comes. */
function record(scope: Scope, topic: string) {
  const deliveries: Delivery[] = [];
  const waiting = new Map<unknown, () => void>();
  consume(
    scope,
    topic,
    async (message) => {
      deliveries.push({ message, at: Date.now() });
      waiting.get(message.payload)?.();
    },
    { concurrency: 4, retryBackoff: { initialMs: 10, maxMs: 10 } },
  );
  return {
    deliveries,
    arrived(payload: string, what: string): Promise<Delivery> {
      const found = deliveries.find((delivery) => delivery.message.payload === payload);
      if (found) return Promise.resolve(found);
      const done = deferred<Delivery>();
      waiting.set(payload, () => done.resolve(deliveries.find((delivery) => delivery.message.payload === payload)!));
      return within(done.promise, 10_000, what);
    },
  };
}

/** Appends a step to a fresh run with `payload` queued claimed on `topic`; returns the claim and when. */
async function claimWith(world: World, topic: string, payload: string, leaseMs: number, groupKey?: string) {
  const { runId, tail } = await startedRun(world);
  const result = await world.events.create(runId, stepCreated(`claimed-${payload}`), {
    lastKnownEventId: tail,
    enqueue: [{ topic, payload, claim: { leaseMs }, ...(groupKey === undefined ? {} : { options: { groupKey } }) }],
  });
  return { runId, tail: result.event.eventId, claims: result.claims, claimedAt: Date.now() };
}

export function requireClaims(scope: Scope): void {
  if (scope.world.capabilities.queue.claims !== true) {
    scope.skipBecause('capabilities.queue.claims is not true (messages are never queued claimed)');
  }
}

/** `EnqueueRequest.claim`, `CreateEventParams.acknowledge`, `queue.extendClaim` and `queue.settleClaim`. */
export function describeQueueClaims(options: ConformanceOptions): void {
  section(options, 'queue', 'claimed messages', (test) => {
    test('a claimed message goes to no consumer while its writer holds it, then is delivered as attempt 2', async (scope) => {
      requireClaims(scope);
      const { world } = scope;
      const topic = 'conformance.claim-lapse';
      const leaseMs = 300;
      const { claims, claimedAt } = await claimWith(world, topic, 'claimed', leaseMs);
      expect(claims).toHaveLength(1);
      const claim = claims![0]!;
      expect(claim).toMatchObject({ topic });
      const consumer = record(scope, topic);
      await world.queue.send(topic, 'plain');
      await consumer.arrived('plain', 'a plain message sent after the claimed one');
      expect(
        consumer.deliveries.map((delivery) => delivery.message.payload),
        'a due plain message overtakes the held one',
      ).toEqual(['plain']);
      const lapsed = await consumer.arrived('claimed', 'the claimed message once its lease ran out');
      expect(lapsed.message).toMatchObject({ messageId: claim.messageId, attempt: 2 });
      expect(lapsed.at - claimedAt).toBeGreaterThanOrEqual(leaseMs - 50);
      expect(await world.queue.settleClaim!(claim, { acknowledge: true }), 'a lapsed claim cannot be settled').toBe(
        false,
      );
    });

    test('an append that acknowledges a claim ends the message and frees its group', async (scope) => {
      requireClaims(scope);
      const { world } = scope;
      const topic = 'conformance.claim-ack';
      const { runId, tail, claims } = await claimWith(world, topic, 'claimed', 400, 'group-a');
      const claim = claims![0]!;
      expect(claim.groupKey).toBe('group-a');
      const consumer = record(scope, topic);
      await world.queue.send(topic, 'next-in-group', { groupKey: 'group-a' });
      const acknowledged = await world.events.create(runId, stepCreated('after-claim'), {
        lastKnownEventId: tail,
        acknowledge: [claim],
      });
      expect(acknowledged.event.seq).toBeGreaterThan(0);
      await consumer.arrived('next-in-group', 'the group’s next message once the claim was acknowledged');
      // Past the claim's lease and backoff: a claim the append failed to acknowledge would be here by now.
      await world.queue.send(topic, 'marker', { delayMs: 700 });
      await consumer.arrived('marker', 'a marker sent to arrive after the claim would have lapsed');
      expect(consumer.deliveries.map((delivery) => delivery.message.payload)).toEqual(['next-in-group', 'marker']);
      expect(await world.queue.extendClaim!(claim, 1000), 'an acknowledged claim cannot be extended').toBe(false);
      expect(await world.queue.settleClaim!(claim, { retryAfterMs: 0 }), 'nor settled again').toBe(false);
    });

    test('an acknowledgement of a claim already lost leaves the message alone, and the append commits', async (scope) => {
      requireClaims(scope);
      const { world } = scope;
      const topic = 'conformance.claim-late-ack';
      const { runId, tail, claims } = await claimWith(world, topic, 'claimed', 60_000);
      const claim = claims![0]!;
      expect(await world.queue.settleClaim!(claim, { retryAfterMs: 0 })).toBe(true);
      const consumer = record(scope, topic);
      const redelivered = await consumer.arrived('claimed', 'the handed-back message');
      expect(redelivered.message).toMatchObject({ messageId: claim.messageId, attempt: 2 });
      const { event } = await world.events.create(runId, stepCreated('late-ack'), {
        lastKnownEventId: tail,
        acknowledge: [claim],
      });
      expect(event.correlationId).toBe('late-ack');
      expect(consumer.deliveries).toHaveLength(1);
    });

    test('extendClaim keeps a claim; settleClaim hands it back (attempt 2) or ends it, once', async (scope) => {
      requireClaims(scope);
      const { world } = scope;
      const topic = 'conformance.claim-settle';
      const handedBack = (await claimWith(world, topic, 'handed-back', 200)).claims![0]!;
      const acknowledged = (await claimWith(world, topic, 'acknowledged', 200)).claims![0]!;
      const startedAt = Date.now();
      // Extended well past the original lease: neither lapses while the test runs.
      expect(await world.queue.extendClaim!(handedBack, 60_000)).toBe(true);
      expect(await world.queue.extendClaim!(acknowledged, 60_000)).toBe(true);
      const consumer = record(scope, topic);
      expect(await world.queue.settleClaim!(acknowledged, { acknowledge: true })).toBe(true);
      expect(await world.queue.settleClaim!(acknowledged, { acknowledge: true })).toBe(false);
      expect(await world.queue.settleClaim!(handedBack, { retryAfterMs: 0 })).toBe(true);
      expect(await world.queue.settleClaim!(handedBack, { retryAfterMs: 0 })).toBe(false);
      const redelivered = await consumer.arrived('handed-back', 'the handed-back claim');
      expect(redelivered.message).toMatchObject({ messageId: handedBack.messageId, attempt: 2 });
      await world.queue.send(topic, 'marker');
      await consumer.arrived('marker', 'a marker after the settlements');
      expect(consumer.deliveries.map((delivery) => delivery.message.payload).sort()).toEqual(['handed-back', 'marker']);
      expect(Date.now() - startedAt, 'the handed-back message did not wait for its lease').toBeLessThan(60_000);
    });

    test('a claim takes the ids its writer chose, so it can be handed back without the append’s answer', async (scope) => {
      requireClaims(scope);
      const { world } = scope;
      const topic = 'conformance.claim-chosen-ids';
      const suffix = Math.random().toString(36).slice(2);
      const chosen = { messageId: `msg_chosen_${suffix}`, token: `claim_chosen_${suffix}` };
      const { runId, tail } = await startedRun(world);
      const result = await world.events.create(runId, stepCreated('chosen'), {
        lastKnownEventId: tail,
        enqueue: [{ topic, payload: 'chosen', claim: { leaseMs: 60_000, ...chosen } }],
      });
      expect(result.claims).toEqual([{ topic, ...chosen }]);
      // A message id the queue holds already is refused, naming it, and nothing is written.
      const taken = await expectError(
        world.events.create(runId, stepCreated('taken'), {
          lastKnownEventId: result.event.eventId,
          enqueue: [
            { topic, payload: 'fine' },
            { topic, payload: 'taken', claim: { leaseMs: 60_000, messageId: chosen.messageId } },
          ],
        }),
        InvalidInputError,
      );
      expect(taken.field).toBe('params.enqueue.1.claim.messageId');
      expect(taken.value).toBe(chosen.messageId);
      expect((await world.runs.get(runId)).lastEventId).toBe(result.event.eventId);
      // A writer that never saw the first answer hands back the claim it built from its own ids.
      const consumer = record(scope, topic);
      expect(await world.queue.settleClaim!({ topic, ...chosen }, { retryAfterMs: 0 })).toBe(true);
      const delivered = await consumer.arrived('chosen', 'the claim handed back by its chosen ids');
      expect(delivered.message).toMatchObject({ messageId: chosen.messageId, attempt: 2 });
      expect(
        consumer.deliveries.map((delivery) => delivery.message.payload),
        'nothing of the refused append',
      ).toEqual(['chosen']);
      // Settling a claim whose append never happened changes nothing.
      expect(
        await world.queue.settleClaim!(
          { topic, messageId: `msg_never_${suffix}`, token: 'never' },
          { retryAfterMs: 0 },
        ),
      ).toBe(false);
    });

    test('a claim on a group another lease holds is queued unclaimed and waits its turn', async (scope) => {
      requireClaims(scope);
      const { world } = scope;
      const topic = 'conformance.claim-busy-group';
      const holding = deferred();
      const release = deferred();
      scope.defer(() => release.resolve());
      const delivered: QueueMessage[] = [];
      const second = deferred();
      consume(scope, topic, async (message) => {
        delivered.push(message);
        if (message.payload === 'holder') {
          holding.resolve();
          await release.promise;
        } else second.resolve();
      });
      await world.queue.send(topic, 'holder', { groupKey: 'busy' });
      await within(holding.promise, 5000, 'the holder to be leased');
      const { claims } = await claimWith(world, topic, 'unclaimed', 60_000, 'busy');
      expect(claims ?? [], 'no claim while the group is leased').toEqual([]);
      release.resolve();
      await within(second.promise, 5000, 'the unclaimed message after the holder settled');
      expect(delivered.map((message) => [message.payload, message.attempt])).toEqual([
        ['holder', 1],
        ['unclaimed', 1],
      ]);
    });

    test('bad claims and settlements are refused naming the field, and write nothing', async (scope) => {
      requireClaims(scope);
      const { world } = scope;
      const { runId, tail } = await startedRun(world);
      const refused = async (enqueue: unknown, field: string) => {
        const error = await expectError(
          world.events.create(runId, stepCreated('never'), { lastKnownEventId: tail, enqueue: enqueue as never }),
          InvalidInputError,
        );
        expect(error.field).toBe(field);
      };
      await refused([{ topic: 't', payload: 1, claim: { leaseMs: 5 } }], 'params.enqueue.0.claim.leaseMs');
      await refused([{ topic: 't', payload: 1, claim: {} }], 'params.enqueue.0.claim.leaseMs');
      await refused(
        [{ topic: 't', payload: 1, claim: { leaseMs: 1000, messageId: '' } }],
        'params.enqueue.0.claim.messageId',
      );
      await refused([{ topic: 't', payload: 1, claim: { leaseMs: 1000, token: 7 } }], 'params.enqueue.0.claim.token');
      await refused(
        [{ topic: 't', payload: 1, claim: { leaseMs: 1000 }, options: { delayMs: 10 } }],
        'params.enqueue.0.options.delayMs',
      );
      await refused(
        [{ topic: 't', payload: 1, claim: { leaseMs: 1000 }, options: { idempotencyKey: 'k' } }],
        'params.enqueue.0.options.idempotencyKey',
      );
      expect((await world.runs.get(runId)).lastEventId).toBe(tail);
      const claim: QueueClaim = { topic: 't', messageId: 'msg_none', token: 'none' };
      const badOutcome = await expectError(world.queue.settleClaim!(claim, { retryAfterMs: -1 }), InvalidInputError);
      expect(badOutcome.field).toMatch(/^outcome/);
      const badClaim = await expectError(
        world.queue.settleClaim!({ ...claim, topic: 'has spaces' }, { acknowledge: true }),
        InvalidInputError,
      );
      expect(badClaim.field).toBe('claim.topic');
      const badLease = await expectError(world.queue.extendClaim!(claim, 0), InvalidInputError);
      expect(badLease.field).toBe('leaseMs');
      expect(await world.queue.settleClaim!(claim, { acknowledge: true }), 'an unknown claim settles nothing').toBe(
        false,
      );
    });

    test('without claims, a claimed message is queued as a plain one and no claim is reported', async (scope) => {
      const { world } = scope;
      if (world.capabilities.queue.claims === true) {
        scope.skipBecause('capabilities.queue.claims is true (the tests above cover claims)');
      }
      const topic = 'conformance.claim-unsupported';
      const { claims } = await claimWith(world, topic, 'plain-after-all', 60_000);
      expect(claims ?? []).toEqual([]);
      const consumer = record(scope, topic);
      const delivered = await consumer.arrived('plain-after-all', 'the message, delivered as a plain one');
      expect(delivered.message.attempt).toBe(1);
    });
  });
}
