import { FenceConflictError, InvalidInputError, type QueueMessage, type World } from '@cairn/core/world';
import { expect } from 'vitest';
import { type ConformanceOptions, deferred, expectError, readLog, section, within } from './helpers.js';
import { startedRun, stepCreated } from './requests.js';

/** Consumes `topic` until `stopAt` arrives, returning every payload seen before it. */
async function drainUntil(world: World, topic: string, stopAt: string): Promise<unknown[]> {
  const seen: unknown[] = [];
  const done = deferred();
  const consumer = world.queue.consume(topic, async (message: QueueMessage) => {
    if (message.payload === stopAt) done.resolve();
    else seen.push(message.payload);
  });
  await within(done.promise, 10_000, `the ${stopAt} marker`);
  await consumer.stop();
  return seen;
}

/** CreateEventParams.enqueue: messages that exist if, and only if, their events commit. */
export function describeOutbox(options: ConformanceOptions): void {
  section(options, 'fences', 'enqueue with an append (outbox)', (test) => {
    test('messages enqueued with a committed append are delivered, with their options', async ({ world }) => {
      const { runId, tail } = await startedRun(world);
      await world.events.create(runId, stepCreated('outbox-1'), {
        lastKnownEventId: tail,
        enqueue: [
          { topic: 'outbox', payload: { stepId: 'outbox-1' } },
          { topic: 'outbox', payload: 'dedup', options: { idempotencyKey: 'once' } },
        ],
      });
      // The key is now taken: a plain send with it is deduplicated.
      expect((await world.queue.send('outbox', 'dedup', { idempotencyKey: 'once' })).deduplicated).toBe(true);
      await world.queue.send('outbox', 'end');
      expect(await drainUntil(world, 'outbox', 'end')).toEqual([{ stepId: 'outbox-1' }, 'dedup']);
    });

    test('of writers racing on one tail, only the winner’s messages are ever queued', async ({ world }) => {
      const { runId, tail } = await startedRun(world);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 10 }, (_, writer) =>
          world.events.create(runId, stepCreated(`racer-${writer}`), {
            lastKnownEventId: tail,
            enqueue: [{ topic: 'race', payload: writer }],
          }),
        ),
      );
      const winners = outcomes.flatMap((outcome, writer) => (outcome.status === 'fulfilled' ? [writer] : []));
      expect(winners).toHaveLength(1);
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') expect(FenceConflictError.is(outcome.reason)).toBe(true);
      }
      await world.queue.send('race', 'end');
      expect(await drainUntil(world, 'race', 'end')).toEqual(winners);
      expect((await readLog(world, runId)).filter((event) => event.eventType === 'step_created')).toHaveLength(1);
    });

    test('a bad message fails the whole append: nothing is written or queued', async ({ world }) => {
      const { runId, tail } = await startedRun(world);
      const error = await expectError(
        world.events.create(runId, stepCreated('never'), {
          lastKnownEventId: tail,
          enqueue: [{ topic: 'has spaces', payload: 1 }],
        }),
        InvalidInputError,
      );
      expect(error.field).toBe('params.enqueue.0.topic');
      expect((await world.runs.get(runId)).lastEventId).toBe(tail);
    });
  });
}
