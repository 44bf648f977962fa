import { createHook, FenceConflictError, replayRun, sleep, step, workflow } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allEvents, type EngineSuiteOptions, eventually, type Harness, openHarness } from '../harness.js';
import { hookOrSleep, longChain, quick, slowish } from './invariant-workflows.js';

const stepWon = step('invariant.step-won', async () => 'step-won');
const hookWon = step('invariant.hook-won', async () => 'hook-won');
const branchA = step('invariant.branch-a', async (index: number) => `a${index}`);
const branchB = step('invariant.branch-b', async () => 'b');

const fanOut = workflow('invariant.fan-out', async () => {
  const values = await Promise.all([quick(1), quick(2), quick(3)]);
  await sleep(5);
  return values;
});

const hookOrStep = workflow('invariant.hook-or-step', async (token: string) => {
  const hook = createHook<string>({ token });
  const first = await Promise.race([hook.then(() => 'hook' as const), slowish(20).then(() => 'step' as const)]);
  return first === 'hook' ? hookWon() : stepWon();
});

/** Each delivery's reaction runs many microtask hops; quiescence means they never interleave. */
const quiescence = workflow('invariant.quiescence', async (prefix: string) => {
  const trace: string[] = [];
  const react = async (name: string, hookPromise: PromiseLike<unknown>) => {
    await hookPromise;
    trace.push(`${name}:start`);
    for (let hop = 0; hop < 50; hop++) await Promise.resolve();
    trace.push(`${name}:end`);
  };
  await Promise.all([
    react('first', createHook({ token: `${prefix}:1` })),
    react('second', createHook({ token: `${prefix}:2` })),
  ]);
  return trace;
});

const callSites = workflow('invariant.call-sites', async (aCalls: number) => {
  const a = (async () => {
    const out = [];
    for (let index = 0; index < aCalls; index++) out.push(await branchA(index));
    return out;
  })();
  const b = branchB();
  return [await a, await b];
});

/** The replay-derived event types: each must be written under a fence. */
const derivedTypes = new Set([
  'run_started',
  'step_created',
  'wait_created',
  'wait_completed',
  'hook_created',
  'hook_disposed',
  'run_completed',
  'run_failed',
]);

export function describeInvariant(options: EngineSuiteOptions): void {
  describe(`${options.name}: the engine invariant`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await harness.close();
    });

    it('writes one fenced batch per suspension, and fences every derived event', async () => {
      await harness.startWorker({ workflows: [fanOut] });
      const run = await harness.client.start(fanOut, undefined);
      expect(await run.result()).toEqual([2, 3, 4]);
      const calls = harness.world.calls.filter((call) => call.runId === run.id);
      // All three parallel steps were decided at one suspension, so they share one batch.
      const fanOutBatch = calls.find((call) => call.eventTypes.filter((type) => type === 'step_created').length === 3);
      expect(fanOutBatch?.fenced).toBe(true);
      for (const call of calls) {
        if (call.eventTypes.some((type) => derivedTypes.has(type))) expect(call).toMatchObject({ fenced: true });
      }
    });

    it('re-derives after losing a fence, and the stale decision never lands', async () => {
      const token = `race:${Math.random()}`;
      let injected = false;
      harness.world.beforeAppend = async (call, inner) => {
        // Just before the engine records the step's completion with the decision it caused
        // ("step won"), a hook delivery lands first: the fence must refuse the stale batch.
        if (!injected && call.eventTypes[0] === 'step_completed' && call.fenced) {
          injected = true;
          const hook = await inner.hooks.getByToken(token);
          await inner.events.create(hook.runId, {
            eventType: 'hook_received',
            correlationId: hook.hookId,
            eventData: { payload: 'early' },
          });
        }
      };
      await harness.startWorker({ workflows: [hookOrStep] });
      const run = await harness.client.start(hookOrStep, token);
      expect(await run.result()).toBe('hook-won');
      expect(injected).toBe(true);
      const events = await allEvents(harness.world, run.id);
      const created = events.filter((event) => event.eventType === 'step_created').map((event) => event.correlationId);
      expect(created).toContain('step:invariant.hook-won#0');
      expect(created).not.toContain('step:invariant.step-won#0');
      // The completion itself was a fact and still landed, once, after the hook.
      const order = events.map((event) => event.eventType);
      expect(order.filter((type) => type === 'step_completed').length).toBe(2);
      expect(order.indexOf('hook_received')).toBeLessThan(order.indexOf('step_completed'));
    });

    it('catches up and re-decides when a timer decision loses to a hook delivery', async () => {
      const token = `timer-race:${Math.random()}`;
      let injected = false;
      harness.world.beforeAppend = async (call, inner) => {
        // The timer fired and the engine is about to record the sleep as done; a hook
        // delivery beats it to the log. The sleep's win was derived from a stale prefix.
        if (!injected && call.fenced && call.eventTypes.includes('wait_completed')) {
          injected = true;
          const hook = await inner.hooks.getByToken(token);
          await inner.events.create(hook.runId, {
            eventType: 'hook_received',
            correlationId: hook.hookId,
            eventData: { payload: 'first' },
          });
        }
      };
      await harness.startWorker({ workflows: [hookOrSleep] });
      const run = await harness.client.start(hookOrSleep, token);
      expect(await run.result()).toBe('hook:first');
      const types = (await allEvents(harness.world, run.id)).map((event) => event.eventType);
      expect(injected).toBe(true);
      // The stale batch (the sleep's completion, derived before the hook) never landed; the
      // run ended on the hook, so the sleep is simply left open.
      expect(types).toContain('hook_received');
      expect(types).not.toContain('wait_completed');
      expect(types.at(-1)).toBe('run_completed');
      expect(await replayRun(harness.world, hookOrSleep, run.id)).toEqual({
        status: 'completed',
        output: 'hook:first',
      });
    });

    it('delivers events in log order with quiescence between them', async () => {
      const prefix = `quiet:${Math.random()}`;
      const worker = await harness.startWorker({ workflows: [quiescence] });
      const run = await harness.client.start(quiescence, prefix);
      await eventually(
        async () => (await harness.world.hooks.list(run.id)).data.length === 2 || undefined,
        5000,
        'both hooks',
      );
      // With no worker running, both deliveries pile up in the log; the next replay feeds them together.
      await worker.stop();
      await harness.client.resumeHook(`${prefix}:2`, 'two');
      await harness.client.resumeHook(`${prefix}:1`, 'one');
      await harness.startWorker({ workflows: [quiescence] });
      expect(await run.result()).toEqual(['second:start', 'second:end', 'first:start', 'first:end']);
      expect(await replayRun(harness.world, quiescence, run.id)).toEqual({
        status: 'completed',
        output: ['second:start', 'second:end', 'first:start', 'first:end'],
      });
    });

    it('gives correlation ids per call site, so one branch cannot rename another', async () => {
      await harness.startWorker({ workflows: [callSites] });
      for (const aCalls of [1, 3]) {
        const run = await harness.client.start(callSites, aCalls);
        await run.result();
        const ids = (await allEvents(harness.world, run.id))
          .filter((event) => event.eventType === 'step_created')
          .map((event) => event.correlationId);
        expect(ids).toContain('step:invariant.branch-b#0');
        expect(ids.filter((id) => id?.startsWith('step:invariant.branch-a#'))).toEqual(
          Array.from({ length: aCalls }, (_, index) => `step:invariant.branch-a#${index}`),
        );
      }
    });

    it('never lets two fenced writers holding one tail both land', async () => {
      const run = await harness.client.start(longChain, 0);
      const { lastEventId } = await harness.world.runs.get(run.id);
      const results = await Promise.allSettled(
        [0, 1].map((index) =>
          harness.world.events.create(
            run.id,
            { eventType: 'step_created', correlationId: `manual-${index}`, eventData: { stepName: 'manual' } },
            { lastKnownEventId: lastEventId },
          ),
        ),
      );
      expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((result) => result.status === 'rejected');
      expect(FenceConflictError.is((rejected as PromiseRejectedResult).reason)).toBe(true);
    });
  });
}
