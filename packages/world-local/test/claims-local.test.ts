import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { DeliveryControl, QueueClaim, QueueMessage, World } from '@cairn/core/world';
import { describe, expect, it } from 'vitest';
import { createLocalWorld } from '../src/index.js';
import { runUntilThenKill, temporaryDirectory, within } from './helpers.js';

const fixture = join(import.meta.dirname, 'fixtures/claim-and-hang.mjs');

/** A promise with its resolve function, for a handler to wait on. */
function deferred<Value = void>() {
  let resolve!: (value: Value) => void;
  const promise = new Promise<Value>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

/** Consumes `topic`, recording each delivery; `next()` resolves with the next one to arrive. */
function record(world: World, topic: string, handle?: (message: QueueMessage) => Promise<void>) {
  const messages: QueueMessage[] = [];
  const waiting: ((message: QueueMessage) => void)[] = [];
  world.queue.consume(topic, async (message) => {
    messages.push(message);
    waiting.shift()?.(message);
    await handle?.(message);
  });
  return {
    messages,
    next(what: string): Promise<QueueMessage> {
      const arrived = messages.length > waiting.length ? messages[waiting.length] : undefined;
      if (arrived) return Promise.resolve(arrived);
      return within(new Promise((resolve) => waiting.push(resolve)), 5000, what);
    },
  };
}

/** Creates a run and appends a step whose outbox queues `payload` on `topic`, claimed. */
async function claimOne(world: World, topic: string, payload: unknown, leaseMs: number) {
  const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'claims' } });
  const result = await world.events.create(
    run.runId,
    { eventType: 'step_created', correlationId: 'claimed', eventData: { stepName: 'work' } },
    { enqueue: [{ topic, payload: payload as never, claim: { leaseMs } }] },
  );
  expect(result.claims).toHaveLength(1);
  return { runId: run.runId, tail: result.event.eventId, claim: result.claims![0]! };
}

/** Runs the fixture until it reports its claim, then SIGKILLs it. */
async function claimAndCrash(directory: string, topic: string, mode: 'hold' | 'acknowledge') {
  const [runId, messageId, token] = await runUntilThenKill(
    fixture,
    [directory, topic, mode],
    /CLAIMED \S+ \S+ \S+\n/,
    'the child to take its claim',
  );
  return { runId: runId!, claim: { topic, messageId: messageId!, token: token! } satisfies QueueClaim };
}

describe('world-local claims', () => {
  it('a claim held when the World closes is delivered at once after a reopen, and its old token settles nothing', async () => {
    const directory = await temporaryDirectory();
    const topic = 'claims-restart';
    // A small checkpoint size and a payload larger than it: the append that queues the
    // claimed message is followed by a checkpoint, so the reopen reads it from a snapshot.
    const first = createLocalWorld({ dir: directory, checkpointBytes: 1024 });
    const payload = { padding: 'x'.repeat(2048) };
    const { runId, tail, claim } = await claimOne(first, topic, payload, 600_000);
    await first.close();
    expect((await readdir(directory)).filter((file) => file.startsWith('snapshot-'))).not.toEqual([]);

    const second = createLocalWorld({ dir: directory });
    const release = deferred();
    const held = deferred<DeliveryControl>();
    const reopenedAt = Date.now();
    const consumed = second.queue.consume(topic, async (_message, delivery) => {
      held.resolve(delivery);
      await release.promise;
    });
    const delivery = await within(held.promise, 5000, 'the claimed message after the reopen');
    // Its lease was ten minutes; a restart ends it, as it ends a consumer's lease.
    expect(Date.now() - reopenedAt).toBeLessThan(5000);
    expect(delivery.claim).toMatchObject({ topic, messageId: claim.messageId });
    expect(delivery.claim!.token).not.toBe(claim.token);
    expect(await second.queue.extendClaim!(claim, 1000), 'the old claim cannot be extended').toBe(false);
    expect(await second.queue.settleClaim!(claim, { retryAfterMs: 0 }), 'nor settled').toBe(false);
    // An append naming the old claim commits, and leaves the consumer's lease alone.
    const { event } = await second.events.create(
      runId,
      { eventType: 'step_completed', correlationId: 'claimed', eventData: { output: 1 } },
      { lastKnownEventId: tail, acknowledge: [claim] },
    );
    expect(event.eventType).toBe('step_completed');
    expect(await delivery.extendLease(), 'the consumer still holds the message').toBe(true);
    release.resolve();
    await consumed.stop();
    await second.close();

    // The consumer acknowledged it before the close: nothing comes back a third time.
    const third = createLocalWorld({ dir: directory });
    const after = record(third, topic);
    await third.queue.send(topic, 'marker');
    await after.next('the marker');
    expect(after.messages.map((message) => message.payload)).toEqual(['marker']);
    await third.close();
  });

  it('after a SIGKILL, a claim nobody settled comes back as attempt 2 and an acknowledged one is gone', async () => {
    const topic = 'claims-crash';
    const heldDirectory = await temporaryDirectory();
    const held = await claimAndCrash(heldDirectory, topic, 'hold');
    const afterHold = createLocalWorld({ dir: heldDirectory });
    const redelivered = record(afterHold, topic);
    const message = await redelivered.next('the claim the crash cut short');
    expect(message).toMatchObject({ messageId: held.claim.messageId, attempt: 2, payload: { claimed: true } });
    expect(await afterHold.queue.settleClaim!(held.claim, { acknowledge: true })).toBe(false);
    await afterHold.close();

    const acknowledgedDirectory = await temporaryDirectory();
    const acknowledged = await claimAndCrash(acknowledgedDirectory, topic, 'acknowledge');
    const afterAcknowledge = createLocalWorld({ dir: acknowledgedDirectory });
    // The acknowledgement and the events it was appended with survived together.
    const { data } = await afterAcknowledge.events.list(acknowledged.runId);
    expect(data.map((event) => event.eventType)).toEqual(['run_created', 'step_created', 'step_completed']);
    const after = record(afterAcknowledge, topic);
    await afterAcknowledge.queue.send(topic, 'marker');
    await after.next('the marker');
    expect(after.messages.map((delivered) => delivered.payload)).toEqual(['marker']);
    await afterAcknowledge.close();
  }, 30_000);

  it('a delivery an append acknowledged gives up its lease, and its slot takes the next message', async () => {
    const directory = await temporaryDirectory();
    const world = createLocalWorld({ dir: directory });
    const topic = 'claims-delivery';
    const { run } = await world.events.create(null, {
      eventType: 'run_created',
      eventData: { workflowName: 'claims' },
    });
    let tail = run.lastEventId;
    const extendedAfterAppend: boolean[] = [];
    const payloads: unknown[] = [];
    const second = deferred();
    world.queue.consume(
      topic,
      async (message, delivery) => {
        payloads.push(message.payload);
        if (message.payload === 'second') return second.resolve();
        const { event } = await world.events.create(
          run.runId,
          { eventType: 'step_created', correlationId: 'acknowledging', eventData: { stepName: 'work' } },
          { lastKnownEventId: tail, acknowledge: [delivery.claim!] },
        );
        tail = event.eventId;
        delivery.acknowledgedByAppend!();
        extendedAfterAppend.push(await delivery.extendLease());
      },
      // One slot: the second message can only be delivered once the first delivery's is free.
      { concurrency: 1, leaseMs: 60_000 },
    );
    await world.queue.send(topic, 'first');
    await world.queue.send(topic, 'second');
    await within(second.promise, 5000, 'the second message in the freed slot');
    expect(payloads).toEqual(['first', 'second']);
    expect(extendedAfterAppend, 'the append ended the first delivery’s lease').toEqual([false]);
    await world.close();

    // Acknowledged by the append alone, and the append was durable: nothing comes back.
    const reopened = createLocalWorld({ dir: directory });
    const after = record(reopened, topic);
    await reopened.queue.send(topic, 'marker');
    await after.next('the marker');
    expect(after.messages.map((message) => message.payload)).toEqual(['marker']);
    await reopened.close();
  });
});
