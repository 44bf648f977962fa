import {
  type CreateEventParams,
  type CreateEventRequest,
  EntityConflictError,
  FenceConflictError,
  StepNotFoundError,
  type World,
} from '@cairn/core/world';
import { expect } from 'vitest';
import {
  type ConformanceOptions,
  clockPast,
  expectError,
  expectUnchanged,
  hookCreated,
  hookReceived,
  readLog,
  section,
  snapshotRun,
  startedRun,
  stepCompleted,
  stepCreated,
} from './helpers.js';

const writers = 25;

/** Checks the log is seq 1..n with no gap or duplicate, and returns it. */
async function denseLog(world: World, runId: string) {
  const log = await readLog(world, runId);
  expect(log.map((event) => event.seq)).toEqual(log.map((_, index) => index + 1));
  expect(new Set(log.map((event) => event.eventId)).size).toBe(log.length);
  return log;
}

/**
 * Races `writers` appends that all name the same tail. Writer i appends its own step ids,
 * so entity rules cannot be what stops anyone: only the fence may.
 */
async function raceOnOneTail(
  world: World,
  runId: string,
  tail: string,
  round: string,
  useBatch: (writer: number) => boolean,
) {
  const before = await denseLog(world, runId);
  const attempts = Array.from({ length: writers }, (_, writer) => {
    const requests = [stepCreated(`${round}-w${writer}-a`), stepCreated(`${round}-w${writer}-b`)];
    return useBatch(writer)
      ? world.events.createBatch(runId, requests, { lastKnownEventId: tail })
      : world.events.create(runId, requests[0]!, { lastKnownEventId: tail }).then((result) => [result]);
  });
  const outcomes = await Promise.allSettled(attempts);
  const winners = outcomes.flatMap((outcome, writer) => (outcome.status === 'fulfilled' ? [{ writer, outcome }] : []));
  expect(winners, 'exactly one fenced writer commits').toHaveLength(1);
  const winner = winners[0]!;
  const written = winner.outcome.status === 'fulfilled' ? winner.outcome.value : [];

  const after = await denseLog(world, runId);
  expect(after.length).toBe(before.length + written.length);
  expect(after.slice(0, before.length)).toEqual(before);
  expect(after.slice(before.length)).toEqual(written.map((result) => result.event));
  const realTail = after.at(-1)!;
  for (const outcome of outcomes) {
    if (outcome.status === 'fulfilled') continue;
    const error = outcome.reason as unknown;
    expect(FenceConflictError.is(error), `loser got ${String(error)}`).toBe(true);
    expect(EntityConflictError.is(error), 'a FenceConflictError is also an EntityConflictError').toBe(true);
    const fence = error as FenceConflictError;
    expect(fence.currentTail).toEqual({ eventId: realTail.eventId, seq: realTail.seq });
    expect(fence.expectedEventId).toBe(tail);
  }
  // Only the winner's step ids exist.
  for (let writer = 0; writer < writers; writer += 1) {
    if (writer === winner.writer) continue;
    await expectError(world.steps.get(runId, `${round}-w${writer}-a`), StepNotFoundError);
  }
  return realTail.eventId;
}

/** Optimistic fences: lastKnownEventId, asOfTimestamp and atomic batches. */
export function describeFences(options: ConformanceOptions): void {
  section(options, 'fences', 'fences and batches', (test) => {
    test(`${writers} concurrent writers on one tail: exactly one commits, the rest get FenceConflictError`, async ({
      world,
    }) => {
      const { runId, tail } = await startedRun(world);
      const second = await raceOnOneTail(world, runId, tail, 'batches', () => true);
      // Again from the new tail, singles and batches mixed, then singles only.
      const third = await raceOnOneTail(world, runId, second, 'mixed', (writer) => writer % 2 === 0);
      await raceOnOneTail(world, runId, third, 'singles', () => false);
    });

    test('a batch under a stale fence writes nothing', async ({ world }) => {
      const { runId, tail } = await startedRun(world);
      await world.events.create(runId, stepCreated('moved'));
      const before = await snapshotRun(world, runId);
      const error = await expectError(
        world.events.createBatch(runId, [stepCreated('x1'), stepCreated('x2'), stepCreated('x3')], {
          lastKnownEventId: tail,
        }),
        FenceConflictError,
      );
      expect(error.currentTail).toEqual({ eventId: before.run!.lastEventId, seq: before.run!.lastSeq });
      await expectUnchanged(world, runId, before);
      await expectError(world.steps.get(runId, 'x1'), StepNotFoundError);
      // An id that was never in the log fences nothing either.
      await expectError(
        world.events.create(runId, stepCreated('x1'), { lastKnownEventId: 'not-an-event' }),
        FenceConflictError,
      );
      await expectUnchanged(world, runId, before);
    });

    test('a batch under a good fence commits at consecutive seqs', async ({ world }) => {
      const { runId, tail, results } = await startedRun(world);
      const batch = await world.events.createBatch(runId, [stepCreated('a'), stepCreated('b'), stepCompleted('a', 1)], {
        lastKnownEventId: tail,
      });
      const firstSeq = results.at(-1)!.event.seq + 1;
      expect(batch.map((result) => result.event.seq)).toEqual([firstSeq, firstSeq + 1, firstSeq + 2]);
      const run = await world.runs.get(runId);
      expect(run.lastEventId).toBe(batch.at(-1)!.event.eventId);
      await denseLog(world, runId);
      // The fence moves with the tail: the old one is now stale, the new one good.
      await expectError(world.events.create(runId, stepCreated('c'), { lastKnownEventId: tail }), FenceConflictError);
      await world.events.create(runId, stepCreated('c'), { lastKnownEventId: run.lastEventId });
    });

    test('a batch whose third event breaks an entity rule writes nothing', async ({ world }) => {
      const { runId } = await startedRun(world, stepCreated('exists'));
      const before = await snapshotRun(world, runId);
      const breakers: [CreateEventRequest, { name: string; is(value: unknown): boolean }][] = [
        [stepCreated('exists'), EntityConflictError],
        [stepCompleted('ghost'), StepNotFoundError],
        [stepCreated('n1'), EntityConflictError],
      ];
      for (const [third, errorClass] of breakers) {
        const batch = [stepCreated('n1'), stepCreated('n2'), third, stepCreated('n4')];
        for (const params of [undefined, { lastKnownEventId: before.run!.lastEventId }]) {
          const error = await expectError(world.events.createBatch(runId, batch, params), {
            name: errorClass.name,
            is: (value: unknown): value is unknown => errorClass.is(value),
          });
          expect(FenceConflictError.is(error)).toBe(false);
          await expectUnchanged(world, runId, before);
        }
      }
      await expectError(world.steps.get(runId, 'n1'), StepNotFoundError);
    });

    test('asOfTimestamp: commits when nothing landed since the instant, conflicts when something did', async ({
      world,
    }) => {
      const { runId } = await startedRun(world);
      const seen = (await readLog(world, runId)).at(-1)!;
      // A writer's instant must be strictly after every event it read.
      const instant = clockPast(seen.createdAt);
      const ok = await world.events.create(runId, stepCreated('a'), { asOfTimestamp: instant });
      expect(ok.event.seq).toBe(seen.seq + 1);

      // Now the same pattern, but another writer lands after the instant is taken.
      const last = ok.event;
      const later = clockPast(last.createdAt);
      const interloper = await world.events.create(runId, hookCreated('h1', `asof-${runId}`));
      expect(interloper.event.createdAt, 'the World clock agrees with this process').toBeGreaterThanOrEqual(later);
      const before = await snapshotRun(world, runId);
      const error = await expectError(
        world.events.createBatch(runId, [stepCreated('b'), stepCreated('c')], { asOfTimestamp: later }),
        FenceConflictError,
      );
      expect(error.currentTail).toEqual({ eventId: interloper.event.eventId, seq: interloper.event.seq });
      await expectUnchanged(world, runId, before);
    });

    test('asOfTimestamp at or before the first event resolves to no tail and conflicts', async ({ world }) => {
      const { runId, results } = await startedRun(world);
      const before = await snapshotRun(world, runId);
      const first = results[0]!.event;
      await expectError(
        world.events.create(runId, stepCreated('a'), { asOfTimestamp: first.createdAt }),
        FenceConflictError,
      );
      await expectUnchanged(world, runId, before);
    });

    test('lastKnownEventId wins over asOfTimestamp', async ({ world }) => {
      const { runId, tail } = await startedRun(world);
      // A good id with an instant that alone would conflict: commits.
      const good: CreateEventParams = { lastKnownEventId: tail, asOfTimestamp: 0 };
      const committed = await world.events.create(runId, stepCreated('a'), good);
      // A stale id with an instant that alone would pass: conflicts.
      const instant = clockPast(committed.event.createdAt);
      const before = await snapshotRun(world, runId);
      await expectError(
        world.events.create(runId, stepCreated('b'), { lastKnownEventId: tail, asOfTimestamp: instant }),
        FenceConflictError,
      );
      await expectUnchanged(world, runId, before);
    });

    test('unfenced deliveries commit after the tail has moved', async ({ world }) => {
      const { runId, tail } = await startedRun(world, stepCreated('s1'), hookCreated('h1', `deliver-${Date.now()}`));
      await world.events.create(runId, stepCreated('s2'));
      // The same writes under the stale fence are refused...
      await expectError(
        world.events.create(runId, stepCompleted('s1', 'x'), { lastKnownEventId: tail }),
        FenceConflictError,
      );
      // ...but deliveries from outside carry no fence, and they land.
      const completed = await world.events.create(runId, stepCompleted('s1', 'x'));
      const received = await world.events.create(runId, hookReceived('h1', { ok: true }));
      expect(completed.step).toMatchObject({ status: 'completed', output: 'x' });
      expect(received.hook?.receivedCount).toBe(1);
      await denseLog(world, runId);
    });
  });
}
