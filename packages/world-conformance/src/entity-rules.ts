import {
  type CreateEventRequest,
  DuplicateDeliveryError,
  EntityConflictError,
  FenceConflictError,
  HookNotFoundError,
  HookTokenConflictError,
  RunNotFoundError,
  RunTerminalError,
  StepNotFoundError,
  WaitNotFoundError,
  type World,
} from '@cairn/core/world';
import { expect } from 'vitest';
import {
  type ConformanceOptions,
  type ErrorClass,
  expectError,
  expectUnchanged,
  failure,
  freshRunId,
  hookCreated,
  hookDelivery,
  hookDisposed,
  hookReceived,
  runCreated,
  runStarted,
  section,
  snapshotRun,
  startedRun,
  stepCompleted,
  stepCreated,
  waitCompleted,
  waitCreated,
} from './helpers.js';

/** Appends `request` expecting `errorClass`, and checks the run's view and log did not move. */
async function refused<Instance>(
  world: World,
  runId: string,
  request: CreateEventRequest | CreateEventRequest[],
  errorClass: ErrorClass<Instance>,
): Promise<Instance> {
  const before = await snapshotRun(world, runId);
  const error = await expectError(
    Array.isArray(request) ? world.events.createBatch(runId, request) : world.events.create(runId, request),
    errorClass,
  );
  // A rule break is never reported as a lost fence: no fence was given.
  expect(FenceConflictError.is(error)).toBe(false);
  await expectUnchanged(world, runId, before);
  return error;
}

const terminalEvents: Record<'completed' | 'failed' | 'cancelled', CreateEventRequest> = {
  completed: { eventType: 'run_completed', eventData: { output: 'done' } },
  failed: { eventType: 'run_failed', eventData: { error: failure() } },
  cancelled: { eventType: 'run_cancelled', eventData: { reason: 'operator' } },
};

/** The entity rules (which events each entity accepts), each with its error class, each writing nothing. */
export function describeEntityRules(options: ConformanceOptions): void {
  section(options, 'entity-rules', 'entity rules', (test) => {
    for (const [status, ending] of Object.entries(terminalEvents)) {
      test(`every event on a ${status} run is RunTerminalError`, async ({ world }) => {
        const { runId } = await startedRun(
          world,
          stepCreated('s1'),
          waitCreated('w1'),
          hookCreated('h1', `t-${status}`),
        );
        await world.events.create(runId, ending);
        expect((await world.runs.get(runId)).status).toBe(status);
        const attempts: CreateEventRequest[] = [
          runStarted,
          terminalEvents.completed,
          terminalEvents.cancelled,
          stepCreated('s2'),
          stepCompleted('s1', 'late'),
          waitCompleted('w1'),
          hookReceived('h1', 'late'),
          hookCreated('h2', `t2-${status}`),
        ];
        for (const attempt of attempts) {
          const error = await refused(world, runId, attempt, RunTerminalError);
          expect(error.runId).toBe(runId);
          expect(error.status).toBe(status);
        }
        await refused(world, runId, [stepCreated('s3'), stepCompleted('s3')], RunTerminalError);
      });
    }

    test('a second step_created, wait_created or hook_created for one correlation id is EntityConflictError', async ({
      world,
    }) => {
      const { runId } = await startedRun(world, stepCreated('s1'), waitCreated('w1'), hookCreated('h1', 'dup-a'));
      const step = await refused(world, runId, stepCreated('s1', 'other-name'), EntityConflictError);
      expect(step).toMatchObject({ runId, entity: 'step', correlationId: 's1' });
      const wait = await refused(world, runId, waitCreated('w1'), EntityConflictError);
      expect(wait).toMatchObject({ runId, entity: 'wait', correlationId: 'w1' });
      // A fresh token, so only the correlation id collides.
      const hook = await refused(world, runId, hookCreated('h1', 'dup-b'), EntityConflictError);
      expect(hook).toMatchObject({ runId, entity: 'hook', correlationId: 'h1' });
      // Inside one batch too: the second creation sees the first.
      await refused(world, runId, [stepCreated('s9'), stepCreated('s9')], EntityConflictError);
    });

    test('any event on a completed or failed step is EntityConflictError', async ({ world }) => {
      const { runId } = await startedRun(world, stepCreated('done'), stepCompleted('done', 1), stepCreated('bad'));
      await world.events.create(runId, {
        eventType: 'step_failed',
        correlationId: 'bad',
        eventData: { error: failure() },
      });
      for (const stepId of ['done', 'bad']) {
        const followUps: CreateEventRequest[] = [
          { eventType: 'step_started', correlationId: stepId },
          stepCompleted(stepId, 'again'),
          { eventType: 'step_failed', correlationId: stepId, eventData: { error: failure('again') } },
          { eventType: 'step_retrying', correlationId: stepId, eventData: { error: failure('again') } },
        ];
        for (const request of followUps) {
          const error = await refused(world, runId, request, EntityConflictError);
          expect(error).toMatchObject({ entity: 'step', correlationId: stepId });
        }
      }
      expect(await world.steps.get(runId, 'done')).toMatchObject({ status: 'completed', output: 1 });
    });

    test('a second wait_completed is EntityConflictError; a second run_started too', async ({ world }) => {
      const { runId } = await startedRun(world, waitCreated('w1'), waitCompleted('w1'));
      const error = await refused(world, runId, waitCompleted('w1'), EntityConflictError);
      expect(error).toMatchObject({ entity: 'wait', correlationId: 'w1' });
      await refused(world, runId, runStarted, EntityConflictError);
    });

    test('hook_received or hook_disposed for a missing or disposed hook is HookNotFoundError', async ({ world }) => {
      const { runId } = await startedRun(world, hookCreated('h1', 'nf-1'));
      await refused(world, runId, hookReceived('nobody'), HookNotFoundError);
      await refused(world, runId, hookDisposed('nobody'), HookNotFoundError);
      await world.events.create(runId, hookDisposed('h1'));
      await refused(world, runId, hookReceived('h1', 'late'), HookNotFoundError);
      expect((await world.hooks.get(runId, 'h1')).receivedCount).toBe(0);
    });

    test('a second hook_disposed is refused and writes nothing', async ({ world }) => {
      const { runId } = await startedRun(world, hookCreated('h1', 'twice'), hookDisposed('h1'));
      // world.ts lists this case under both EntityConflictError and HookNotFoundError;
      // either is a refusal that writes nothing, which is what matters to a caller.
      const before = await snapshotRun(world, runId);
      const error = await expectError(world.events.create(runId, hookDisposed('h1')), {
        name: 'HookNotFoundError or EntityConflictError',
        is: (value: unknown): value is unknown => HookNotFoundError.is(value) || EntityConflictError.is(value),
      });
      expect(FenceConflictError.is(error)).toBe(false);
      await expectUnchanged(world, runId, before);
    });

    test('a deliveryId the run already holds is DuplicateDeliveryError naming the hook that has it, on any of its hooks, after a dispose and within one batch', async (scope) => {
      const { world } = scope;
      if (world.capabilities.uniqueDeliveryIds !== true) {
        scope.skipBecause('capabilities.uniqueDeliveryIds is false: the engine finds deliveries by reading the log');
      }
      const { runId } = await startedRun(world, hookCreated('h1', 'dd-1'), hookCreated('h2', 'dd-2'));
      await world.events.create(runId, hookDelivery('h1', 'order-1', 'first'));
      for (const hookId of ['h1', 'h2']) {
        const repeat = await refused(world, runId, hookDelivery(hookId, 'order-1', 'again'), DuplicateDeliveryError);
        expect(repeat).toMatchObject({ runId, deliveryId: 'order-1', hookId: 'h1' });
      }
      // One batch carrying the same id twice is refused whole.
      const batched = await refused(
        world,
        runId,
        [hookDelivery('h2', 'order-2'), hookDelivery('h2', 'order-2')],
        DuplicateDeliveryError,
      );
      expect(batched).toMatchObject({ deliveryId: 'order-2', hookId: 'h2' });
      // A repeat stays a repeat once its hook is gone: its sender learns the delivery landed.
      await world.events.create(runId, hookDisposed('h1'));
      await refused(world, runId, hookDelivery('h2', 'order-1'), DuplicateDeliveryError);
      // Deliveries without an id, other ids, and the same id in another run are all taken.
      await world.events.createBatch(runId, [
        hookReceived('h2', 'a'),
        hookReceived('h2', 'a'),
        hookDelivery('h2', 'order-3'),
      ]);
      const other = await startedRun(world, hookCreated('h1', 'dd-3'));
      await world.events.create(other.runId, hookDelivery('h1', 'order-1'));
      expect((await world.hooks.get(runId, 'h1')).receivedCount).toBe(1);
      expect((await world.hooks.get(runId, 'h2')).receivedCount).toBe(3);
      expect((await world.hooks.get(other.runId, 'h1')).receivedCount).toBe(1);
    });

    test('a hook token held by a live hook is HookTokenConflictError, in the same run and across runs', async ({
      world,
    }) => {
      const holder = await startedRun(world, hookCreated('h1', 'approve:42'));
      const same = await refused(world, holder.runId, hookCreated('h2', 'approve:42'), HookTokenConflictError);
      expect(same.token).toBe('approve:42');
      expect(same.heldBy).toEqual({ runId: holder.runId, hookId: 'h1' });

      const other = await startedRun(world);
      const across = await refused(world, other.runId, hookCreated('h1', 'approve:42'), HookTokenConflictError);
      expect(across.heldBy).toEqual({ runId: holder.runId, hookId: 'h1' });
      expect(await world.hooks.getByToken('approve:42')).toMatchObject({ runId: holder.runId, hookId: 'h1' });
    });

    test('a hook token is free again after hook_disposed', async ({ world }) => {
      const first = await startedRun(world, hookCreated('h1', 'reuse:disposed'));
      const second = await startedRun(world);
      await refused(world, second.runId, hookCreated('h1', 'reuse:disposed'), HookTokenConflictError);
      await world.events.create(first.runId, hookDisposed('h1'));
      await expectError(world.hooks.getByToken('reuse:disposed'), HookNotFoundError);
      const claimed = await world.events.create(second.runId, hookCreated('h1', 'reuse:disposed'));
      expect(claimed.hook).toMatchObject({ runId: second.runId, hookId: 'h1', status: 'active' });
      expect(await world.hooks.getByToken('reuse:disposed')).toMatchObject({ runId: second.runId });
    });

    for (const [status, ending] of Object.entries(terminalEvents)) {
      test(`a hook token is free again once its run is ${status}`, async ({ world }) => {
        const token = `reuse:${status}`;
        const first = await startedRun(world, hookCreated('h1', token));
        const second = await startedRun(world);
        await refused(world, second.runId, hookCreated('h1', token), HookTokenConflictError);
        await world.events.create(first.runId, ending);
        expect((await world.hooks.get(first.runId, 'h1')).status).toBe('disposed');
        const claimed = await world.events.create(second.runId, hookCreated('h1', token));
        expect(claimed.hook?.status).toBe('active');
        // hook_received now reaches the new holder only.
        await world.events.create(second.runId, hookReceived('h1', 'hi'));
        expect((await world.hooks.get(second.runId, 'h1')).receivedCount).toBe(1);
        expect((await world.hooks.get(first.runId, 'h1')).receivedCount).toBe(0);
      });
    }

    test('an event for a step or wait that was never created is StepNotFoundError / WaitNotFoundError', async ({
      world,
    }) => {
      const { runId } = await startedRun(world, stepCreated('real'), waitCreated('real'));
      for (const request of [
        { eventType: 'step_started', correlationId: 'ghost' },
        stepCompleted('ghost', 1),
        { eventType: 'step_failed', correlationId: 'ghost', eventData: { error: failure() } },
        { eventType: 'step_retrying', correlationId: 'ghost', eventData: { error: failure() } },
      ] satisfies CreateEventRequest[]) {
        await refused(world, runId, request, StepNotFoundError);
      }
      await refused(world, runId, waitCompleted('ghost'), WaitNotFoundError);
      await expectError(world.steps.get(runId, 'ghost'), StepNotFoundError);
      await expectError(world.waits.get(runId, 'ghost'), WaitNotFoundError);
    });

    test('run_created for an id that exists is EntityConflictError and leaves the run as it was', async ({ world }) => {
      const runId = freshRunId('taken');
      await world.events.createBatch(runId, [runCreated('original', { v: 1 }), runStarted, stepCreated('s1')]);
      const error = await refused(world, runId, runCreated('impostor', { v: 2 }), EntityConflictError);
      expect(error).toMatchObject({ runId, entity: 'run' });
      await refused(world, runId, [runCreated('impostor'), runStarted], EntityConflictError);
      expect(await world.runs.get(runId)).toMatchObject({
        workflowName: 'original',
        input: { v: 1 },
        status: 'running',
        lastSeq: 3,
      });
    });

    test('a fresh run id is free: events for it are RunNotFoundError and create no run', async ({ world }) => {
      const runId = freshRunId('never');
      for (const request of [runStarted, stepCreated('s1'), hookReceived('h1'), waitCompleted('w1')]) {
        await expectError(world.events.create(runId, request), RunNotFoundError);
      }
      await expectError(world.runs.get(runId), RunNotFoundError);
    });
  });
}
