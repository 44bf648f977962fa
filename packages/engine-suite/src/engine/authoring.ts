import { randomUUID } from 'node:crypto';
import {
  createHook,
  getRunMetadata,
  getStepMetadata,
  HookNotFoundError,
  InvalidInputError,
  now,
  RunFailedError,
  random,
  replayEvents,
  replayRun,
  sleep,
  step,
  uuid,
  workflow,
} from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allEvents, type EngineSuiteOptions, eventually, gate, type Harness, openHarness } from '../harness.js';

const releases = new Map<string, { promise: Promise<void>; open: () => void }>();
const held = step('authoring.held', async (key: string) => {
  await releases.get(key)?.promise;
  return key;
});
const echo = step('authoring.echo', async (value: unknown) => value);

const deterministic = workflow('authoring.deterministic', async () => {
  const before = {
    now: now(),
    dateNow: Date.now(),
    // biome-ignore lint/complexity/useDateNow: the point is that `new Date()` is deterministic too.
    newDate: new Date().getTime(),
    random: Math.random(),
    uuid: crypto.randomUUID(),
  };
  const nodeUuid = randomUUID();
  await sleep('20ms');
  const after = { now: now(), dateNow: Date.now(), random: random(), uuid: uuid() };
  const raced = await Promise.race([echo('fast'), sleep(5000).then(() => 'slow')]);
  const settled = await Promise.allSettled([echo(1), echo(new Date(0)), echo(new Map([['k', 1n]]))]);
  return { before, nodeUuid, after, raced, settled, metadata: getRunMetadata() };
});

const buffered = workflow('authoring.buffered', async (key: string) => {
  const hook = createHook<{ n: number }>({ token: `buffer:${key}` });
  await held(key);
  const received: number[] = [];
  for await (const payload of hook) {
    received.push(payload.n);
    if (received.length === 3) break;
  }
  hook.dispose();
  return { first: (await hook).n, received };
});

const sleeper = workflow('authoring.sleeper', async (until: number) => {
  await sleep(new Date(until));
  return now();
});

const forever = workflow('authoring.forever', async () => {
  await createHook({ token: `never:${uuid()}` });
  return 'never';
});

/** Workflow code that reports whether it can see a step body's context: it never should. */
const looksForStep = workflow('authoring.looks-for-step', async () => {
  try {
    return `saw step ${getStepMetadata().stepId}`;
  } catch {
    return 'no step';
  }
});
/** A step body that replays `looksForStep` in its own async context, as a step may replay a log to check it. */
const replaysWorkflowCode = step('authoring.replays-workflow-code', async () => {
  const verdict = await replayEvents(looksForStep, [
    {
      eventType: 'run_created',
      eventData: { workflowName: looksForStep.name },
      runId: 'replayed-inside-a-step',
      seq: 1,
      eventId: 'evt_000000000001',
      createdAt: 1,
    },
  ]);
  return verdict.status === 'completed' ? verdict.output : verdict.status;
});
const stepReplaysWorkflowCode = workflow('authoring.step-replays-workflow-code', async () => replaysWorkflowCode());

export function describeAuthoring(options: EngineSuiteOptions): void {
  describe(`${options.name}: authoring API and client`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await harness.close();
    });

    it('keeps workflow code run inside a step body apart from that step: it sees no step context', async () => {
      await harness.startWorker({ workflows: [stepReplaysWorkflowCode] });
      const run = await harness.client.start(stepReplaysWorkflowCode, undefined);
      expect(await run.result()).toBe('no step');
    });

    it('makes time, randomness and ids deterministic inside workflows, and replays identically', async () => {
      await harness.startWorker({ workflows: [deterministic] });
      const run = await harness.client.start(deterministic, undefined);
      const result = await run.result();
      const events = await allEvents(harness.world, run.id);
      // "now" is the createdAt of the event being consumed: run_created at first.
      expect(result.before.now).toBe(events[0]!.createdAt);
      expect(result.before.dateNow).toBe(result.before.now);
      expect(result.before.newDate).toBe(result.before.now);
      const completed = events.find((event) => event.eventType === 'wait_completed')!;
      expect(result.after.now).toBe(completed.createdAt);
      expect(result.after.dateNow).toBe(completed.createdAt);
      expect(result.raced).toBe('fast');
      expect(result.metadata).toEqual({ runId: run.id, workflowName: 'authoring.deterministic' });
      // A cold replay of the log computes exactly the same value, Map, bigint and Date included.
      expect(await replayRun(harness.world, deterministic, run.id)).toEqual({ status: 'completed', output: result });
      // Outside workflows the originals are untouched.
      // biome-ignore lint/complexity/useDateNow: checks the Date constructor outside a workflow.
      expect(Math.abs(Date.now() - new Date().getTime())).toBeLessThan(1000);
      expect(Math.random()).not.toBe(Math.random());
    });

    it('returns the same run for the same id and never starts a second', async () => {
      await harness.startWorker({ workflows: [sleeper] });
      const until = Date.now() + 30;
      const [first, second] = await Promise.all([
        harness.client.start(sleeper, until, { id: 'order-42' }),
        harness.client.start(sleeper, until, { id: 'order-42' }),
      ]);
      expect(first.id).toBe('order-42');
      expect(second.id).toBe('order-42');
      expect(await first.result()).toBeGreaterThanOrEqual(until);
      const created = (await allEvents(harness.world, 'order-42')).filter((event) => event.eventType === 'run_created');
      expect(created).toHaveLength(1);
      const other = workflow('authoring.other', async () => 1);
      await expect(harness.client.start(other, undefined, { id: 'order-42' })).rejects.toSatisfy(InvalidInputError.is);
      expect((await harness.client.getRun('order-42')).id).toBe('order-42');
      expect(
        (await harness.client.listRuns({ workflowName: 'authoring.sleeper' })).data.map((run) => run.runId),
      ).toContain('order-42');
    });

    it('buffers hook payloads that arrive before the workflow awaits, in delivery order', async () => {
      const key = `k${Math.random()}`;
      const release = gate();
      releases.set(key, release);
      await harness.startWorker({ workflows: [buffered] });
      const run = await harness.client.start(buffered, key);
      await eventually(
        () =>
          harness.world.hooks.getByToken(`buffer:${key}`).then(
            () => true,
            () => undefined,
          ),
        5000,
        'the hook',
      );
      // The workflow is still inside `held`: these arrive before anything awaits the hook.
      for (const n of [1, 2, 3]) await harness.client.resumeHook(`buffer:${key}`, { n });
      releases.get(key)!.open();
      expect(await run.result()).toEqual({ first: 1, received: [1, 2, 3] });
      // Disposed: the token is free and a late resume that will not wait is refused.
      await expect(harness.client.resumeHook(`buffer:${key}`, { n: 4 }, { timeoutMs: 0 })).rejects.toSatisfy(
        HookNotFoundError.is,
      );
    });

    it('cancels a run: result() rejects with the cancellation and the hook is released', async () => {
      await harness.startWorker({ workflows: [forever] });
      const run = await harness.client.start(forever, undefined);
      await eventually(
        async () => ((await harness.world.hooks.list(run.id)).data.length > 0 ? true : undefined),
        5000,
        'the hook',
      );
      const cancelled = await harness.client.cancel(run.id, 'customer asked');
      expect(cancelled.status).toBe('cancelled');
      const error = await run.result().catch((caught: unknown) => caught);
      expect(RunFailedError.is(error)).toBe(true);
      expect((error as RunFailedError).status).toBe('cancelled');
      expect((error as RunFailedError).message).toContain('customer asked');
      expect((await harness.world.hooks.list(run.id)).data[0]!.status).toBe('disposed');
      // Cancelling again is harmless.
      expect((await harness.client.cancel(run.id)).status).toBe('cancelled');
    });

    it('waits for results without polling the World', async () => {
      await harness.startWorker({ workflows: [sleeper] });
      const run = await harness.client.start(sleeper, Date.now() + 300);
      const before = harness.world.runsGetCalls;
      await run.result();
      // One read per log change at most, not one per millisecond.
      expect(harness.world.runsGetCalls - before).toBeLessThan(15);
    });

    it('rejects bad durations and bad workflows with errors that name the value', async () => {
      const bad = workflow('authoring.bad-sleep', async () => {
        await sleep('soon');
      });
      await harness.startWorker({ workflows: [bad] });
      const run = await harness.client.start(bad, undefined);
      const error = (await run.result().catch((caught: unknown) => caught)) as RunFailedError;
      expect(error.failure?.message).toContain('"soon"');
      expect(() => workflow('', async () => 1)).toThrow(/workflow name/);
      expect(() => step('authoring.bad-options', async () => 1, { maxRetries: -1 })).toThrow(/maxRetries/);
      expect(() => sleep(5)).toThrow(/inside a workflow/);
    });
  });
}
