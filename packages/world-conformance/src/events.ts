import {
  type CreateEventRequest,
  EventNotFoundError,
  eventSchema,
  RunNotFoundError,
  runSchema,
  type WorldEvent,
} from '@cairn/core/world';
import { expect } from 'vitest';
import {
  type ConformanceOptions,
  deferred,
  expectError,
  freshRunId,
  hookCreated,
  hookReceived,
  readAllRuns,
  readLog,
  runCreated,
  runStarted,
  section,
  settleIo,
  startedRun,
  stepCompleted,
  stepCreated,
  waitCreated,
  within,
} from './helpers.js';

// Crockford base32, 26 characters: what a ULID looks like.
const ulidPattern = /^[0-9A-HJKMNP-TV-Z]{26}$/i;

/** Event shape, ids, ordering, reads of single events, and `events.watch`. */
export function describeEvents(options: ConformanceOptions): void {
  section(options, 'events', 'events and the log', (test) => {
    test('run_created with a null run id mints a ULID and returns the event and the run', async ({ world }) => {
      const first = await world.events.create(null, runCreated('minted', { order: 42 }));
      const second = await world.events.create(null, runCreated('minted'));
      expect(first.event.runId).toMatch(ulidPattern);
      expect(second.event.runId).toMatch(ulidPattern);
      expect(second.event.runId).not.toBe(first.event.runId);

      expect(first.event).toMatchObject({ runId: first.run.runId, seq: 1, eventType: 'run_created' });
      expect(first.event.eventData).toEqual({ workflowName: 'minted', input: { order: 42 } });
      expect(first.run).toMatchObject({
        runId: first.event.runId,
        workflowName: 'minted',
        status: 'pending',
        input: { order: 42 },
        lastSeq: 1,
        lastEventId: first.event.eventId,
        createdAt: first.event.createdAt,
      });
      expect(runSchema.safeParse(first.run).success).toBe(true);
      expect(await world.runs.get(first.event.runId)).toEqual(first.run);
    });

    test('a client-chosen run id is used as given', async ({ world }) => {
      const runId = freshRunId('chosen');
      const { event, run } = await world.events.create(runId, runCreated());
      expect(event.runId).toBe(runId);
      expect(run.runId).toBe(runId);
      expect((await world.runs.get(runId)).runId).toBe(runId);
    });

    test('every event carries runId, dense seq, sortable eventId, type, correlation id, data and createdAt', async ({
      world,
    }) => {
      const startedAt = Date.now();
      const sent: CreateEventRequest[] = [runCreated('shape', { n: 1 }), runStarted];
      const created = await world.events.createBatch(null, sent);
      const runId = created[0]!.event.runId;
      const returned: WorldEvent[] = created.map((result) => result.event);
      // A mix of single appends and batches, so both paths are checked; 14 events in all,
      // so the ids of seq 9, 10 and 11 must still sort as numbers do.
      for (let index = 0; index < 4; index += 1) {
        const request = stepCreated(`step-${index}`, `work-${index}`, { index });
        sent.push(request);
        returned.push((await world.events.create(runId, request)).event);
      }
      const batch = [
        ...[0, 1, 2, 3].map((index) => stepCompleted(`step-${index}`, { done: index })),
        hookCreated('hook-a', `shape-${runId}`),
        hookReceived('hook-a', { hello: 'world' }),
        waitCreated('wait-a', 1_900_000_000_000),
        { eventType: 'run_completed', eventData: { output: [1, 2, 3] } } satisfies CreateEventRequest,
      ];
      sent.push(...batch);
      returned.push(...(await world.events.createBatch(runId, batch)).map((result) => result.event));

      const log = await readLog(world, runId);
      expect(log).toHaveLength(sent.length);
      expect(log).toEqual(returned);
      log.forEach((event, index) => {
        const request = sent[index]!;
        expect(eventSchema.safeParse(event).success, `seq ${index + 1} matches the stored-event schema`).toBe(true);
        expect(event.runId).toBe(runId);
        expect(event.seq).toBe(index + 1);
        expect(event.eventType).toBe(request.eventType);
        expect(event.correlationId).toBe(request.correlationId);
        expect(event.eventData ?? {}).toEqual(request.eventData ?? {});
        expect(Number.isInteger(event.createdAt)).toBe(true);
        // Epoch milliseconds near now, not seconds or a counter.
        expect(Math.abs(event.createdAt - startedAt)).toBeLessThan(60_000);
        if (index > 0) expect(event.createdAt).toBeGreaterThanOrEqual(log[index - 1]!.createdAt);
      });

      const ids = log.map((event) => event.eventId);
      expect(new Set(ids).size).toBe(ids.length);
      // Plain string order, not locale order: that is what "sorts like seq" promises.
      const sorted = [...ids].sort((left, right) => (left < right ? -1 : left > right ? 1 : 0));
      expect(sorted).toEqual(ids);
      expect(ids[8]! < ids[9]!, 'the id of seq 9 sorts before the id of seq 10').toBe(true);

      const run = await world.runs.get(runId);
      expect(run.lastSeq).toBe(log.length);
      expect(run.lastEventId).toBe(ids.at(-1));
    });

    test('events.get returns the stored event; a missing one is EventNotFoundError', async ({ world }) => {
      const { runId } = await startedRun(world, stepCreated('s1'), stepCompleted('s1', 'ok'));
      const log = await readLog(world, runId);
      for (const event of log) expect(await world.events.get(runId, event.eventId)).toEqual(event);

      const other = await startedRun(world, stepCreated('s1'), stepCompleted('s1'), stepCreated('s2'));
      const beyond = (await readLog(world, other.runId)).at(-1)!.eventId;
      // An id that exists in another run's log, but past the end of this one.
      await expectError(world.events.get(runId, beyond), EventNotFoundError);
      await expectError(world.events.get(runId, 'no-such-event'), EventNotFoundError);
      await expectError(world.events.get(freshRunId('missing'), log[0]!.eventId), RunNotFoundError);
    });

    test('reads and appends on an unknown run are RunNotFoundError and create nothing', async ({ world }) => {
      const runId = freshRunId('ghost');
      await expectError(world.runs.get(runId), RunNotFoundError);
      await expectError(world.events.list(runId), RunNotFoundError);
      await expectError(world.events.create(runId, runStarted), RunNotFoundError);
      await expectError(world.events.create(runId, stepCreated('s1')), RunNotFoundError);
      await expectError(world.events.createBatch(runId, [runStarted, stepCreated('s1')]), RunNotFoundError);
      await expectError(world.steps.list(runId), RunNotFoundError);
      await expectError(world.hooks.list(runId), RunNotFoundError);
      await expectError(world.waits.list(runId), RunNotFoundError);
      await expectError(world.runs.get(runId), RunNotFoundError);
      expect(await readAllRuns(world)).toEqual([]);
    });

    test('events.watch resolves at once when the log is already past afterSeq', async ({ world }) => {
      const { runId } = await startedRun(world);
      await within(world.events.watch(runId, 0), 2000, 'watch(afterSeq 0) on a log of two events');
      await within(world.events.watch(runId, 1), 2000, 'watch(afterSeq 1) on a log of two events');
    });

    test('a tail that events.watch reports is the run as of an event past afterSeq', async ({ world }) => {
      const { runId } = await startedRun(world);
      // Reporting a tail is optional; a World that does must report the truth.
      const already = await within(world.events.watch(runId, 1), 2000, 'watch(afterSeq 1) on a log of two events');
      if (already) expect(already).toEqual({ lastSeq: 2, status: 'running' });
      const watching = world.events.watch(runId, 2);
      await settleIo(world);
      await world.events.create(runId, { eventType: 'run_completed', eventData: { output: 'done' } });
      const woken = await within(watching, 5000, 'watch to wake after the run completed');
      if (woken) {
        const { run, ...tail } = woken;
        expect(tail).toEqual({ lastSeq: 3, status: 'completed' });
        // The ended run may come with it; it must then be the run as it stays.
        if (run !== undefined) expect(run).toEqual(await world.runs.get(runId));
      }
    });

    test('events.watch until the run ends resolves by the time it has ended', async ({ world }) => {
      const { runId } = await startedRun(world);
      const watching = world.events.watch(runId, 2, undefined, { untilEnded: true });
      await settleIo(world);
      await world.events.create(runId, stepCreated('s1'));
      await world.events.create(runId, { eventType: 'run_completed', eventData: { output: 'done' } });
      const woken = await within(watching, 5000, 'a watch until the run ends to resolve once it ended');
      // Waiting past the step is optional; a tail reported either way must be the truth.
      if (woken) {
        const { run, ...tail } = woken;
        expect([
          { lastSeq: 3, status: 'running' },
          { lastSeq: 4, status: 'completed' },
        ]).toContainEqual(tail);
        if (run !== undefined) {
          expect(tail.status).toBe('completed');
          expect(run).toEqual(await world.runs.get(runId));
        }
      }
    });

    test('events.watch wakes when an event is appended, and on abort', async ({ world }) => {
      const { runId } = await startedRun(world);
      const woke = deferred();
      const watching = world.events.watch(runId, 2).then(() => woke.resolve(), woke.reject);
      await settleIo(world);
      expect(woke.settled(), 'watch must wait while the log holds only seq 1..2').toBe(false);
      await world.events.create(runId, stepCreated('s1'));
      await within(woke.promise, 5000, 'watch to wake after an append');
      await watching;

      const controller = new AbortController();
      const aborted = world.events.watch(runId, 3, controller.signal);
      controller.abort();
      await within(aborted, 5000, 'watch to return after its signal aborted');
      await expectError(world.events.watch(freshRunId('ghost'), 0), RunNotFoundError);
    });
  });
}
