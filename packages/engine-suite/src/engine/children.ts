import { createHook, RunFailedError, replayRun, startChild, step, workflow } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allEvents, type EngineSuiteOptions, eventually, gate, type Harness, openHarness } from '../harness.js';

const gates = new Map<string, { started: ReturnType<typeof gate>; release: ReturnType<typeof gate> }>();
const gateFor = (key: string) => {
  if (!gates.has(key)) gates.set(key, { started: gate(), release: gate() });
  return gates.get(key)!;
};

const gatedWork = step('children.gated-work', async (key: string) => {
  gateFor(key).started.open();
  await gateFor(key).release.promise;
  return `done ${key}`;
});
const explode = step(
  'children.explode',
  async (reason: string) => {
    throw new Error(reason);
  },
  { maxRetries: 0 },
);

const childWork = workflow('children.child-work', async (key: string) => gatedWork(key));
const childFails = workflow('children.child-fails', async (reason: string) => explode(reason));
const childWaits = workflow('children.child-waits', async (token: string) => createHook({ token }));

const parentOfMany = workflow('children.parent-of-many', async (keys: string[]) => {
  const observed: string[] = [];
  const handles = keys.map((key) => startChild(childWork, key));
  const results = await Promise.all(
    handles.map((handle, index) =>
      handle.result().then((value) => {
        observed.push(keys[index]!);
        return value;
      }),
    ),
  );
  const plain = await startChild(childWork, `${keys[0]}-again`);
  return { results, observed, plain, ids: handles.map((handle) => handle.runId) };
});
const parentOfFailure = workflow('children.parent-of-failure', async (reason: string) => {
  try {
    await startChild(childFails, reason);
    return 'not reached';
  } catch (error) {
    return RunFailedError.is(error) ? `child failed: ${error.failure?.message}` : `wrong error: ${String(error)}`;
  }
});
const parentOfWaiters = workflow('children.parent-of-waiters', async (prefix: string) =>
  Promise.all([startChild(childWaits, `${prefix}:a`), startChild(childWaits, `${prefix}:b`)]),
);

const allWorkflows = [childWork, childFails, childWaits, parentOfMany, parentOfFailure, parentOfWaiters];

export function describeChildren(options: EngineSuiteOptions): void {
  describe(`${options.name}: child workflows`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await harness.close();
    });

    it('runs children concurrently, wakes the parent once per child in log order, and never starts a child twice', async () => {
      const keys = Array.from({ length: 8 }, (_, index) => `child-${index}-${Math.random()}`);
      await harness.startWorker({ workflows: allWorkflows, concurrency: 20 });
      const run = await harness.client.start(parentOfMany, keys);
      // Every child is running before any is released: they are concurrent.
      for (const key of keys) await gateFor(key).started.promise;
      // Release them all at once so their completions race into the parent's log.
      for (const key of keys) gateFor(key).release.open();
      gateFor(`${keys[0]}-again`).release.open();
      const result = await run.result();
      expect(result.results).toEqual(keys.map((key) => `done ${key}`));
      expect(result.plain).toBe(`done ${keys[0]}-again`);
      expect(result.ids).toEqual(keys.map((_, index) => `${run.id}~child:children.child-work#${index}`));
      const events = await allEvents(harness.world, run.id);
      const completions = events
        .filter((event) => event.eventType === 'step_completed')
        .map((event) => event.correlationId);
      // Exactly one completion per child, and the workflow saw them in log order.
      expect(new Set(completions).size).toBe(completions.length);
      expect(completions).toHaveLength(9);
      expect(result.observed).toEqual(completions.slice(0, 8).map((id) => keys[Number(/#(\d+)$/.exec(id!)![1])]));
      const children = await harness.world.runs.list({ workflowName: 'children.child-work', limit: 100 });
      expect(children.data.filter((child) => child.parentRunId === run.id)).toHaveLength(9);
      expect(await replayRun(harness.world, parentOfMany, run.id)).toEqual({ status: 'completed', output: result });
    });

    it("surfaces a child's failure in the parent as a typed error", async () => {
      await harness.startWorker({ workflows: allWorkflows });
      const run = await harness.client.start(parentOfFailure, 'the warehouse is on fire');
      const message = await run.result();
      expect(message).toMatch(/^child failed: /);
      expect(message).toContain('the warehouse is on fire');
    });

    it('cancels the children when the parent is cancelled', async () => {
      const prefix = `waiters-${Math.random()}`;
      await harness.startWorker({ workflows: allWorkflows });
      const run = await harness.client.start(parentOfWaiters, prefix);
      for (const suffix of ['a', 'b']) {
        await eventually(
          () =>
            harness.world.hooks.getByToken(`${prefix}:${suffix}`).then(
              () => true,
              () => undefined,
            ),
          10_000,
          `child ${suffix} to wait on its hook`,
        );
      }
      await harness.client.cancel(run.id, 'order withdrawn');
      for (const index of [0, 1]) {
        const child = await harness.world.runs.get(`${run.id}~child:children.child-waits#${index}`);
        expect(child.status).toBe('cancelled');
        expect(child.cancelReason).toContain(run.id);
      }
      expect(await run.status()).toBe('cancelled');
    });
  });
}
