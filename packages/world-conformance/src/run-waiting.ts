import {
  type CreateEventRequest,
  EntityConflictError,
  FenceConflictError,
  RunTerminalError,
  runSchema,
  type World,
} from '@cairn/core/world';
import { expect } from 'vitest';
import {
  type ConformanceOptions,
  expectError,
  expectUnchanged,
  failure,
  readAllRuns,
  runCreated,
  runStarted,
  section,
  snapshotRun,
} from './helpers.js';

const runWaiting = (message: string, workerWorkflows?: string[]): CreateEventRequest => ({
  eventType: 'run_waiting',
  eventData: {
    reason: 'workflow-not-registered',
    message,
    ...(workerWorkflows === undefined ? {} : { workerWorkflows }),
  },
});

const endings: Record<string, CreateEventRequest> = {
  completed: { eventType: 'run_completed', eventData: { output: 'done' } },
  failed: { eventType: 'run_failed', eventData: { error: failure() } },
  cancelled: { eventType: 'run_cancelled', eventData: { reason: 'operator' } },
};

/** A pending run (created, never started); returns its id. */
async function pendingRun(world: World, workflowName = 'not-anywhere'): Promise<string> {
  return (await world.events.create(null, runCreated(workflowName))).run.runId;
}

/** `run_waiting` and the `waiting` field of the run view it sets and the start or end clears. */
export function describeRunWaiting(options: ConformanceOptions): void {
  section(options, 'views', 'why a pending run waits (run_waiting)', (test) => {
    test('run_waiting on a pending run sets run.waiting, in the result, runs.get and runs.list', async ({ world }) => {
      const runId = await pendingRun(world);
      const created = await world.runs.get(runId);
      expect(created.waiting).toBeUndefined();
      const message = 'no worker has workflow "not-anywhere" — ünïcode 😀 "quoted"';
      const result = await world.events.create(runId, runWaiting(message, ['billing', 'ship']), {
        lastKnownEventId: created.lastEventId,
      });
      const expected = {
        reason: 'workflow-not-registered',
        message,
        workerWorkflows: ['billing', 'ship'],
        since: result.event.createdAt,
      };
      expect(result.event).toMatchObject({ eventType: 'run_waiting', seq: 2 });
      expect(result.run).toMatchObject({ status: 'pending', lastSeq: 2, waiting: expected });
      expect(runSchema.safeParse(result.run).success).toBe(true);
      expect((await world.runs.get(runId)).waiting).toEqual(expected);
      const listed = (await readAllRuns(world)).find((run) => run.runId === runId);
      expect(listed?.waiting).toEqual(expected);
      const pending = await world.runs.list({ status: 'pending', limit: 1000 });
      expect(pending.data.find((run) => run.runId === runId)?.waiting).toEqual(expected);
    });

    test('a later run_waiting with the same reason replaces the details and keeps since', async ({ world }) => {
      const runId = await pendingRun(world);
      const first = await world.events.create(runId, runWaiting('first worker', ['a']));
      const second = await world.events.create(runId, runWaiting('second worker'));
      expect(second.event.createdAt).toBeGreaterThanOrEqual(first.event.createdAt);
      // The second report had no workerWorkflows: the first one's list must not linger.
      expect((await world.runs.get(runId)).waiting).toEqual({
        reason: 'workflow-not-registered',
        message: 'second worker',
        since: first.event.createdAt,
      });
    });

    test('run_started clears run.waiting; the log keeps the run_waiting event', async ({ world }) => {
      const runId = await pendingRun(world);
      await world.events.create(runId, runWaiting('waiting for a worker'));
      const started = await world.events.create(runId, runStarted);
      expect(started.run.status).toBe('running');
      expect(started.run.waiting).toBeUndefined();
      expect('waiting' in started.run).toBe(false);
      const fetched = await world.runs.get(runId);
      expect(fetched.waiting).toBeUndefined();
      expect('waiting' in fetched).toBe(false);
      const log = await world.events.list(runId);
      expect(log.data.map((event) => event.eventType)).toEqual(['run_created', 'run_waiting', 'run_started']);
      expect(log.data[1]).toMatchObject({
        eventData: { reason: 'workflow-not-registered', message: 'waiting for a worker' },
      });
    });

    for (const [status, ending] of Object.entries(endings)) {
      test(`a pending run that is ${status} loses run.waiting`, async ({ world }) => {
        const runId = await pendingRun(world);
        await world.events.create(runId, runWaiting('nobody has it'));
        const ended = await world.events.create(runId, ending);
        expect(ended.run).toMatchObject({ status });
        expect(ended.run.waiting).toBeUndefined();
        expect((await world.runs.get(runId)).waiting).toBeUndefined();
      });
    }

    test('run_waiting on a started run is EntityConflictError, on an ended one RunTerminalError; neither writes', async ({
      world,
    }) => {
      const running = (await world.events.createBatch(null, [runCreated(), runStarted]))[0]!.run.runId;
      let before = await snapshotRun(world, running);
      const conflict = await expectError(world.events.create(running, runWaiting('too late')), EntityConflictError);
      expect(FenceConflictError.is(conflict)).toBe(false);
      expect(conflict).toMatchObject({ runId: running, entity: 'run' });
      await expectUnchanged(world, running, before);

      const ended = await pendingRun(world);
      await world.events.create(ended, endings.cancelled!);
      before = await snapshotRun(world, ended);
      await expectError(world.events.create(ended, runWaiting('too late')), RunTerminalError);
      await expectUnchanged(world, ended, before);
    });

    test('run.waiting survives a reopen of the same storage', async (scope) => {
      const reopen = scope.options.reopen;
      if (!reopen) return scope.skipBecause('no reopen option: this World cannot be opened again on the same storage');
      const runId = await pendingRun(scope.world);
      const cleared = await pendingRun(scope.world);
      await scope.world.events.create(runId, runWaiting('kept', ['x']));
      await scope.world.events.create(cleared, runWaiting('gone'));
      await scope.world.events.create(cleared, runStarted);
      const before = await scope.world.runs.get(runId);
      await scope.world.close();
      const reopened = await reopen(scope.world);
      scope.defer(() => reopened.close());
      expect(await reopened.runs.get(runId)).toEqual(before);
      expect((await reopened.runs.get(cleared)).waiting).toBeUndefined();
    });

    test('a run_waiting fenced on a stale tail is FenceConflictError and writes nothing', async ({ world }) => {
      const runId = await pendingRun(world);
      const stale = (await world.runs.get(runId)).lastEventId;
      await world.events.create(runId, runWaiting('first'));
      const before = await snapshotRun(world, runId);
      await expectError(
        world.events.create(runId, runWaiting('second'), { lastKnownEventId: stale }),
        FenceConflictError,
      );
      await expectUnchanged(world, runId, before);
      expect((await world.runs.get(runId)).waiting?.message).toBe('first');
    });
  });
}
