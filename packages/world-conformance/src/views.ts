import {
  type CreateEventRequest,
  HookNotFoundError,
  hookSchema,
  RunNotFoundError,
  runSchema,
  StepNotFoundError,
  stepSchema,
  WaitNotFoundError,
  waitSchema,
} from '@cairn/core/world';
import { expect } from 'vitest';
import {
  type ConformanceOptions,
  expectError,
  failure,
  freshRunId,
  hookCreated,
  hookDisposed,
  hookReceived,
  runCreated,
  runStarted,
  section,
  startedRun,
  stepCompleted,
  stepCreated,
  waitCompleted,
  waitCreated,
} from './helpers.js';

/** The materialised views match the events appended, and each append returns them. */
export function describeViews(options: ConformanceOptions): void {
  section(options, 'views', 'entity views', (test) => {
    test('a run goes pending -> running -> completed, with its output', async ({ world }) => {
      const parent = (await world.events.create(null, runCreated('parent'))).event.runId;
      const runId = freshRunId('view');
      const created = await world.events.create(runId, {
        eventType: 'run_created',
        eventData: {
          workflowName: 'checkout',
          input: { cart: [1, 2] },
          metadata: { tenant: 'acme' },
          parentRunId: parent,
        },
      });
      expect(created.run).toMatchObject({
        status: 'pending',
        workflowName: 'checkout',
        input: { cart: [1, 2] },
        metadata: { tenant: 'acme' },
        parentRunId: parent,
        createdAt: created.event.createdAt,
        updatedAt: created.event.createdAt,
        lastSeq: 1,
        lastEventId: created.event.eventId,
      });
      expect(created.run.startedAt).toBeUndefined();
      expect(await world.runs.get(runId)).toEqual(created.run);

      const started = await world.events.create(runId, runStarted);
      expect(started.run).toMatchObject({ status: 'running', startedAt: started.event.createdAt, lastSeq: 2 });
      expect(started.run.createdAt).toBe(created.run.createdAt);
      expect(await world.runs.get(runId)).toEqual(started.run);

      const completed = await world.events.create(runId, {
        eventType: 'run_completed',
        eventData: { output: { ok: 1 } },
      });
      expect(completed.run).toMatchObject({
        status: 'completed',
        output: { ok: 1 },
        completedAt: completed.event.createdAt,
        updatedAt: completed.event.createdAt,
        lastSeq: 3,
        lastEventId: completed.event.eventId,
      });
      expect(runSchema.safeParse(completed.run).success).toBe(true);
      expect(await world.runs.get(runId)).toEqual(completed.run);
    });

    test('a run can fail with an error, or be cancelled with a reason, from pending or running', async ({ world }) => {
      const error = { name: 'TypeError', message: 'bad', code: 'E_BAD', data: { hint: 'x' } };
      const failing = await startedRun(world);
      const failed = await world.events.create(failing.runId, { eventType: 'run_failed', eventData: { error } });
      expect(failed.run).toMatchObject({ status: 'failed', error, completedAt: failed.event.createdAt });
      expect(await world.runs.get(failing.runId)).toEqual(failed.run);

      const pending = (await world.events.create(null, runCreated())).event.runId;
      const cancelled = await world.events.create(pending, {
        eventType: 'run_cancelled',
        eventData: { reason: 'nope' },
      });
      expect(cancelled.run).toMatchObject({ status: 'cancelled', cancelReason: 'nope' });
      expect(cancelled.run.completedAt).toBe(cancelled.event.createdAt);
      expect(await world.runs.get(pending)).toEqual(cancelled.run);
    });

    test('a step tracks status, attempt, retries, retryAfter, output and error', async ({ world }) => {
      const { runId } = await startedRun(world);
      const created = await world.events.create(runId, stepCreated('s1', 'charge', { cents: 500 }));
      expect(created.step).toMatchObject({
        runId,
        stepId: 's1',
        stepName: 'charge',
        status: 'pending',
        input: { cents: 500 },
        attempt: 0,
        retries: 0,
        createdAt: created.event.createdAt,
      });
      const started = await world.events.create(runId, { eventType: 'step_started', correlationId: 's1' });
      expect(started.step).toMatchObject({ status: 'running', attempt: 1, startedAt: started.event.createdAt });

      const retryAfter = Date.now() + 5000;
      const retrying = await world.events.create(runId, {
        eventType: 'step_retrying',
        correlationId: 's1',
        eventData: { error: failure('flaky'), retryAfter },
      });
      expect(retrying.step).toMatchObject({
        status: 'pending',
        attempt: 1,
        retries: 1,
        retryAfter,
        error: failure('flaky'),
      });
      expect(await world.steps.get(runId, 's1')).toEqual(retrying.step);

      const again = await world.events.create(runId, { eventType: 'step_started', correlationId: 's1' });
      expect(again.step).toMatchObject({ status: 'running', attempt: 2, retries: 1 });
      const done = await world.events.create(runId, stepCompleted('s1', { receipt: 'r-1' }));
      expect(done.step).toMatchObject({
        status: 'completed',
        output: { receipt: 'r-1' },
        completedAt: done.event.createdAt,
      });
      expect(stepSchema.safeParse(done.step).success).toBe(true);
      expect(await world.steps.get(runId, 's1')).toEqual(done.step);

      // A step may complete straight from pending: inline attempts write no step_started.
      await world.events.create(runId, stepCreated('s2'));
      const direct = await world.events.create(runId, stepCompleted('s2', 7));
      expect(direct.step).toMatchObject({ status: 'completed', output: 7, attempt: 0 });

      await world.events.create(runId, stepCreated('s3'));
      const failed = await world.events.create(runId, {
        eventType: 'step_failed',
        correlationId: 's3',
        eventData: { error: failure('fatal') },
      });
      expect(failed.step).toMatchObject({
        status: 'failed',
        error: failure('fatal'),
        completedAt: failed.event.createdAt,
      });
      expect(await world.steps.get(runId, 's3')).toEqual(failed.step);
    });

    test('a hook tracks status, token, metadata and receivedCount', async ({ world }) => {
      const { runId } = await startedRun(world);
      const created = await world.events.create(runId, {
        eventType: 'hook_created',
        correlationId: 'h1',
        eventData: { token: 'view:hook', metadata: { channel: 'email' } },
      });
      expect(created.hook).toMatchObject({
        runId,
        hookId: 'h1',
        token: 'view:hook',
        status: 'active',
        metadata: { channel: 'email' },
        receivedCount: 0,
      });
      expect(await world.hooks.getByToken('view:hook')).toEqual(created.hook);

      await world.events.create(runId, hookReceived('h1', { n: 1 }));
      const second = await world.events.create(runId, hookReceived('h1', { n: 2 }));
      expect(second.hook).toMatchObject({ status: 'active', receivedCount: 2 });
      expect(await world.hooks.get(runId, 'h1')).toEqual(second.hook);

      const disposed = await world.events.create(runId, hookDisposed('h1'));
      expect(disposed.hook).toMatchObject({
        status: 'disposed',
        receivedCount: 2,
        disposedAt: disposed.event.createdAt,
      });
      expect(hookSchema.safeParse(disposed.hook).success).toBe(true);
      // A disposed hook is still readable by id, but no longer answers to its token.
      expect(await world.hooks.get(runId, 'h1')).toEqual(disposed.hook);
      await expectError(world.hooks.getByToken('view:hook'), HookNotFoundError);
    });

    test('a run that ends disposes its live hooks', async ({ world }) => {
      const { runId } = await startedRun(world, hookCreated('h1', 'end:1'), hookCreated('h2', 'end:2'));
      await world.events.create(runId, { eventType: 'run_completed', eventData: {} });
      for (const hookId of ['h1', 'h2']) {
        expect((await world.hooks.get(runId, hookId)).status).toBe('disposed');
      }
      await expectError(world.hooks.getByToken('end:1'), HookNotFoundError);
    });

    test('a wait tracks status and resumeAt', async ({ world }) => {
      const { runId } = await startedRun(world);
      const resumeAt = Date.now() + 3_600_000;
      const created = await world.events.create(runId, waitCreated('w1', resumeAt));
      expect(created.wait).toMatchObject({
        runId,
        waitId: 'w1',
        status: 'waiting',
        resumeAt,
        createdAt: created.event.createdAt,
      });
      expect(await world.waits.get(runId, 'w1')).toEqual(created.wait);
      const completed = await world.events.create(runId, waitCompleted('w1'));
      expect(completed.wait).toMatchObject({ status: 'completed', resumeAt, completedAt: completed.event.createdAt });
      expect(waitSchema.safeParse(completed.wait).success).toBe(true);
      expect(await world.waits.get(runId, 'w1')).toEqual(completed.wait);
    });

    test('createBatch returns one result per request, in order, each with the state right after it', async ({
      world,
    }) => {
      const requests: CreateEventRequest[] = [
        runCreated('batch'),
        runStarted,
        stepCreated('s1'),
        hookCreated('h1', 'batch:h1'),
        waitCreated('w1'),
        stepCompleted('s1', 'out'),
      ];
      const results = await world.events.createBatch(null, requests);
      expect(results.map((result) => result.event.eventType)).toEqual(requests.map((request) => request.eventType));
      results.forEach((result, index) => {
        expect(result.event.seq).toBe(index + 1);
        expect(result.run.lastSeq).toBe(index + 1);
        expect(result.run.lastEventId).toBe(result.event.eventId);
      });
      expect(results[0]!.run.status).toBe('pending');
      expect(results[1]!.run.status).toBe('running');
      expect(results[2]!.step).toMatchObject({ stepId: 's1', status: 'pending' });
      expect(results[3]!.hook).toMatchObject({ hookId: 'h1', status: 'active' });
      expect(results[4]!.wait).toMatchObject({ waitId: 'w1', status: 'waiting' });
      expect(results[5]!.step).toMatchObject({ stepId: 's1', status: 'completed', output: 'out' });
    });

    test('entity reads of missing things are typed not-found errors', async ({ world }) => {
      const { runId } = await startedRun(world);
      await expectError(world.steps.get(runId, 'nope'), StepNotFoundError);
      await expectError(world.hooks.get(runId, 'nope'), HookNotFoundError);
      await expectError(world.waits.get(runId, 'nope'), WaitNotFoundError);
      await expectError(world.hooks.getByToken('nobody-holds-this'), HookNotFoundError);
      const ghost = freshRunId('ghost');
      await expectError(world.steps.get(ghost, 's1'), RunNotFoundError);
      await expectError(world.hooks.get(ghost, 'h1'), RunNotFoundError);
      await expectError(world.waits.get(ghost, 'w1'), RunNotFoundError);
    });
  });
}
