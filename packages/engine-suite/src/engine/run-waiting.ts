import {
  createWorker,
  findWaitingChildren,
  RunResultTimeoutError,
  startChild,
  type Worker,
  workflow,
} from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allEvents, type EngineSuiteOptions, eventually, type Harness, openHarness } from '../harness.js';

const present = workflow('run-waiting.present', async () => 'present');
/** Given to a worker only after a run of it has waited for one. */
const late = workflow('run-waiting.late', async () => 'late');
const lateChild = workflow('run-waiting.late-child', async () => 'late child');
const lateParent = workflow('run-waiting.late-parent', async () => startChild(lateChild, undefined));

/** A run whose workflow the worker lacks says why on the run itself (`Run.waiting`). */
export function describeRunWaiting(options: EngineSuiteOptions): void {
  describe(`${options.name}: why a run waits`, () => {
    let harness: Harness;
    const ownWorkers: Worker[] = [];
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await Promise.all(ownWorkers.splice(0).map((worker) => worker.stop()));
      await harness.close();
    });

    /** A worker that logs nothing: the reason must reach the run without any logger. */
    async function startQuiet(workflows: Parameters<typeof createWorker>[0]['workflows']) {
      const worker = createWorker({ world: harness.world, workflows, logger: false });
      ownWorkers.push(worker);
      await worker.start();
    }
    /** The fix a user makes: stop the worker, register the workflow, start it again. */
    async function restartWith(workflows: Parameters<typeof createWorker>[0]['workflows']) {
      await Promise.all(ownWorkers.splice(0).map((worker) => worker.stop()));
      await startQuiet(workflows);
    }

    it('records on a pending run why it waits, until a worker that has its workflow starts it', async () => {
      await startQuiet([present]);
      const run = await harness.client.start(late, undefined);
      const waiting = await eventually(
        async () => (await run.describe()).waiting,
        20_000,
        'the run view to say why the run waits',
      );
      expect(waiting).toMatchObject({ reason: 'workflow-not-registered', workerWorkflows: ['run-waiting.present'] });
      expect(waiting.message).toContain('"run-waiting.late"');
      expect(waiting.message).toContain('"run-waiting.present"');
      expect(await run.status()).toBe('pending');
      const timedOut = await run.result({ timeoutMs: 20 }).catch((error: unknown) => error);
      expect(RunResultTimeoutError.is(timedOut)).toBe(true);
      expect((timedOut as RunResultTimeoutError).waiting).toEqual(waiting);
      expect((timedOut as Error).message).toContain(waiting.message);

      await restartWith([present, late]);
      expect(await run.result({ timeoutMs: 20_000 })).toBe('late');
      const ended = await run.describe();
      expect(ended.status).toBe('completed');
      expect(ended.waiting).toBeUndefined();
      const types = (await allEvents(harness.world, run.id)).map((event) => event.eventType);
      // One report per worker process, however often the run was redelivered to it.
      expect(types.filter((type) => type === 'run_waiting')).toHaveLength(1);
      expect(types.indexOf('run_waiting')).toBeLessThan(types.indexOf('run_started'));
    });

    it('records on a forgotten child why it waits, naming the parent that waits for it', async () => {
      await startQuiet([lateParent]);
      const run = await harness.client.start(lateParent, undefined);
      const child = await eventually(
        async () => {
          const children = await harness.world.runs.list({ workflowName: 'run-waiting.late-child', limit: 1000 });
          const found = children.data.find((candidate) => candidate.parentRunId === run.id);
          return found?.waiting ? found : undefined;
        },
        20_000,
        'the child run view to say why it waits',
      );
      expect(child.waiting?.message).toContain(run.id);
      expect(child.waiting?.message).toContain('"run-waiting.late-child"');
      // The parent is running, not waiting itself; the reason it is stuck is its child's.
      expect((await run.describe()).waiting).toBeUndefined();
      expect(await findWaitingChildren(harness.world, run.id)).toEqual([
        { runId: child.runId, workflowName: 'run-waiting.late-child', parentRunId: run.id, waiting: child.waiting },
      ]);
      await restartWith([lateParent, lateChild]);
      expect(await run.result({ timeoutMs: 20_000 })).toBe('late child');
      expect((await harness.world.runs.get(child.runId)).waiting).toBeUndefined();
      expect(await findWaitingChildren(harness.world, run.id)).toEqual([]);
    });
  });
}
