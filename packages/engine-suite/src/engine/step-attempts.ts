import { createHook, map, StepFailedError, startChild, step, WorldUnavailableError, workflow } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allEvents, type EngineSuiteOptions, eventually, type Harness, openHarness } from '../harness.js';
import { stepTopic } from '../topics.js';

/** Body executions per key, so a test can tell how often a step really ran. */
const executions = new Map<string, number>();
const ran = (key: string) => executions.set(key, (executions.get(key) ?? 0) + 1);

const tick = step('attempts.tick', async (key: string, index: number) => {
  ran(`${key}:${index}`);
  // Long enough that a later pass overlaps the attempt if it is also running elsewhere.
  await new Promise((resolve) => setTimeout(resolve, 15));
  return index;
});
const mapped = workflow(
  'attempts.mapped',
  async ({ key, count, limit }: { key: string; count: number; limit: number }) =>
    map(
      Array.from({ length: count }, (_, index) => index),
      (index) => tick(key, index),
      { maxConcurrency: limit },
    ),
);

const oversized = step('attempts.oversized', async (key: string, bytes: number) => {
  ran(key);
  return 'x'.repeat(bytes);
});
const sparse = step('attempts.sparse', async (key: string) => {
  ran(key);
  const holes: number[] = [];
  holes[3] = 1;
  return holes;
});
const describeFailure = async (call: () => Promise<unknown>) => {
  try {
    await call();
    return 'no failure';
  } catch (error) {
    return StepFailedError.is(error) ? `${error.failure.name}: ${error.failure.message}` : `other: ${error}`;
  }
};
const tooBig = workflow('attempts.too-big', async ({ key, bytes }: { key: string; bytes: number }) =>
  describeFailure(() => oversized(key, bytes)),
);
const holey = workflow('attempts.holey', async (key: string) => describeFailure(() => sparse(key)));

const prepare = step('attempts.prepare', async (key: string) => {
  ran(key);
  return 'prepared';
});
const holdToken = workflow('attempts.hold-token', async (token: string) => {
  await createHook<string>({ token });
  return 'released';
});
const claimTaken = workflow('attempts.claim-taken', async ({ key, token }: { key: string; token: string }) => {
  await prepare(key);
  return createHook<string>({ token });
});

class HttpProblem {
  constructor(readonly status: number) {}
}
const problematic = step(
  'attempts.problematic',
  async (key: string) => {
    ran(key);
    throw new HttpProblem(503);
  },
  { maxRetries: 1, backoff: { initialMs: 5 } },
);
const throwsProblem = workflow('attempts.throws-problem', async (key: string) =>
  describeFailure(() => problematic(key)),
);
const bodyThrowsProblem = workflow('attempts.body-throws-problem', async () => {
  throw new HttpProblem(418);
});
const bodyThrowsSymbol = workflow('attempts.body-throws-symbol', async () => {
  throw Symbol('odd');
});

const alwaysFails = step(
  'attempts.always-fails',
  async (key: string, index: number) => {
    ran(`${key}:${index}`);
    throw new Error(`attempt of item ${index} failed`);
  },
  { maxRetries: 3, backoff: { initialMs: 1000, factor: 1 } },
);
const failingFanOut = workflow('attempts.failing-fan-out', async (key: string) =>
  map([0, 1, 2], (index) => alwaysFails(key, index), { maxConcurrency: 3 }),
);

const slowOnce = step('attempts.slow-once', async (key: string) => {
  ran(`${key}:slow`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  return 'slow';
});
const quickOnce = step('attempts.quick-once', async (key: string) => {
  ran(`${key}:quick`);
  return 'quick';
});
const slowBesideQuick = workflow('attempts.slow-beside-quick', async (key: string) =>
  Promise.all([slowOnce(key), quickOnce(key)]),
);

const fanOut = workflow('attempts.fan-out', async (key: string) =>
  Promise.all([0, 1, 2].map((index) => tick(key, index))),
);
const childOfSends = workflow('attempts.child-of-sends', async (key: string) => tick(key, 7));
const parentOfSends = workflow('attempts.parent-of-sends', async (key: string) =>
  startChild(childOfSends, key).result(),
);

export function describeStepAttempts(options: EngineSuiteOptions): void {
  describe(`${options.name}: step attempts`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await harness.close();
    });
    const key = () => `key-${Math.random()}`;

    it('never starts a second attempt of a step that is queued or running, whatever the concurrency', async () => {
      // A narrow worker queues most of a wide fan-out; later passes must not also run those inline.
      await harness.startWorker({ workflows: [mapped], concurrency: 1 });
      for (const limit of [40, 6, 1]) {
        const runKey = key();
        const run = await harness.client.start(mapped, { key: runKey, count: 40, limit });
        expect(await run.result()).toEqual(Array.from({ length: 40 }, (_, index) => index));
        const counts = Array.from({ length: 40 }, (_, index) => executions.get(`${runKey}:${index}`));
        expect(counts).toEqual(Array.from({ length: 40 }, () => 1));
      }
    });

    it('fails a step whose result is too large to store, once, instead of running it forever', async () => {
      await harness.startWorker({ workflows: [tooBig] });
      const stepKey = key();
      const bytes = harness.world.capabilities.maxPayloadBytes + 10;
      const run = await harness.client.start(tooBig, { key: stepKey, bytes });
      const outcome = (await run.result()) as string;
      expect(outcome).toMatch(/too large|maxPayloadBytes|bytes/i);
      expect(executions.get(stepKey)).toBe(1);
    });

    it('fails a step whose result is a sparse array, naming the hole', async () => {
      await harness.startWorker({ workflows: [holey] });
      const stepKey = key();
      const run = await harness.client.start(holey, stepKey);
      expect(await run.result()).toMatch(/\[0\]/);
      expect(executions.get(stepKey)).toBe(1);
    });

    it('records a completion alone when the decisions it causes are refused, and fails the run', async () => {
      await harness.startWorker({ workflows: [holdToken, claimTaken] });
      const token = `taken-${Math.random()}`;
      const holder = await harness.client.start(holdToken, token);
      await eventually(
        () => harness.world.hooks.getByToken(token).catch(() => undefined),
        10_000,
        `a hook holding ${token}`,
      );
      const stepKey = key();
      const run = await harness.client.start(claimTaken, { key: stepKey, token });
      const error = (await run.result().catch((caught: unknown) => caught)) as { failure?: { code?: string } };
      expect(error.failure?.code).toBe('HOOK_TOKEN_CONFLICT');
      expect(executions.get(stepKey)).toBe(1);
      const step = await harness.world.steps.get(run.id, 'step:attempts.prepare#0');
      expect(step.status).toBe('completed');
      await harness.client.resumeHook(token, 'done');
      expect(await holder.result()).toBe('released');
    });

    it('retries and then fails a step that throws a value that is not an Error', async () => {
      await harness.startWorker({ workflows: [throwsProblem] });
      const stepKey = key();
      const run = await harness.client.start(throwsProblem, stepKey);
      expect(await run.result()).toMatch(/HttpProblem/);
      expect(executions.get(stepKey)).toBe(2);
    });

    it('fails the run when the workflow body throws a value that is not an Error', async () => {
      await harness.startWorker({ workflows: [bodyThrowsProblem, bodyThrowsSymbol] });
      for (const definition of [bodyThrowsProblem, bodyThrowsSymbol]) {
        const run = await harness.client.start(definition, undefined);
        const error = (await run.result().catch((caught: unknown) => caught)) as { failure?: { message?: string } };
        expect(error.failure?.message).toMatch(/HttpProblem|Symbol\(odd\)/);
        expect(await run.status()).toBe('failed');
      }
    });

    it('finishes runs whose queued steps and children must wake them while every direct send fails', async () => {
      await harness.startWorker({ workflows: [fanOut, parentOfSends, childOfSends], concurrency: 1 });
      // From here on, only messages written atomically with an append get through.
      harness.world.beforeSend = async (topic) => {
        throw new WorldUnavailableError({ world: 'test', location: topic, reason: 'direct sends are failing' });
      };
      const fanKey = key();
      const fan = await harness.client.start(fanOut, fanKey);
      const parent = await harness.client.start(parentOfSends, key());
      const outcomes = await Promise.race([
        Promise.all([fan.result(), parent.result()]),
        new Promise((resolve) => setTimeout(() => resolve('stranded'), 10_000)),
      ]);
      harness.world.beforeSend = undefined;
      expect(outcomes).toEqual([[0, 1, 2], 7]);
      expect([0, 1, 2].map((index) => executions.get(`${fanKey}:${index}`))).toEqual([1, 1, 1]);
    });

    it('never runs a queued step again once its run has ended', async () => {
      // One inline slot: two of the three items go to the step queue, and their retries
      // wait there as delayed messages while the run is cancelled.
      await harness.startWorker({ workflows: [failingFanOut], concurrency: 1 });
      const runKey = key();
      const run = await harness.client.start(failingFanOut, runKey);
      const retrying = async () => {
        const events = await allEvents(harness.world, run.id);
        const queued = events.flatMap((event) =>
          event.eventType === 'step_created' && event.eventData.placement === 'queue'
            ? [{ stepId: event.correlationId, item: (event.eventData.input as [string, number])[1] }]
            : [],
        );
        const retried = new Set(
          events.filter((event) => event.eventType === 'step_retrying').map((event) => event.correlationId),
        );
        return queued.length > 0 && queued.every(({ stepId }) => retried.has(stepId)) ? queued : undefined;
      };
      const queued = await eventually(retrying, 10_000, 'every queued item to have failed its first attempt');
      // Only the queued items are judged: an inline retry may have started before the cancel landed.
      const queuedItems = queued.map(({ item }) => item);
      const ranBefore = queuedItems.map((index) => executions.get(`${runKey}:${index}`) ?? 0);
      await harness.client.cancel(run.id, 'ending the run under its queued retries');
      // Wait until a retry message of each queued item has been handled after the cancel.
      const handledAfterCancel = harness.world.deliveries.length;
      await eventually(
        async () => {
          const handled = harness.world.deliveries
            .slice(handledAfterCancel)
            .filter((delivery) => delivery.topic === stepTopic);
          return handled.length >= queued.length ? handled : undefined;
        },
        10_000,
        'the queued retries to be delivered',
      );
      expect(queuedItems.map((index) => executions.get(`${runKey}:${index}`) ?? 0)).toEqual(ranBefore);
    });

    it('keeps its wake through a brief outage, so a step still running is not started again elsewhere', async () => {
      // Two workers: a wake handed back during the outage could go to the one that does not
      // have the running attempt, which would then start the step a second time.
      await harness.startWorker({ workflows: [slowBesideQuick] });
      await harness.startWorker({ workflows: [slowBesideQuick] });
      const keys = Array.from({ length: 10 }, () => key());
      const failedOnce = new Set<string>();
      harness.world.beforeAppend = async (call) => {
        // The first write of each run's quick completion fails, while the slow step runs.
        if (call.runId === null || !call.eventTypes.includes('step_completed') || failedOnce.has(call.runId)) return;
        failedOnce.add(call.runId);
        throw new WorldUnavailableError({ world: 'test', location: 'append', reason: 'a brief outage' });
      };
      const runs = await Promise.all(keys.map((runKey) => harness.client.start(slowBesideQuick, runKey)));
      const results = await Promise.all(runs.map((run) => run.result()));
      harness.world.beforeAppend = undefined;
      expect(results).toEqual(keys.map(() => ['slow', 'quick']));
      expect(failedOnce.size).toBe(keys.length);
      expect(keys.map((runKey) => executions.get(`${runKey}:slow`))).toEqual(keys.map(() => 1));
    });

    it('records the steps a giving-up pass started before handing its wake to another worker', async () => {
      await harness.startWorker({ workflows: [slowBesideQuick] });
      await harness.startWorker({ workflows: [slowBesideQuick] });
      const keys = Array.from({ length: 10 }, () => key());
      // As many refusals in a row as a pass makes writes (one and six retries): it gives up
      // while the slow step may still run, and its own records after that get through.
      const refusals = new Map<string, number>();
      harness.world.beforeAppend = async (call) => {
        if (call.runId === null || !call.eventTypes.includes('step_completed')) return;
        const count = refusals.get(call.runId) ?? 0;
        if (count >= 7) return;
        refusals.set(call.runId, count + 1);
        throw new WorldUnavailableError({ world: 'test', location: 'append', reason: 'a longer outage' });
      };
      const runs = await Promise.all(keys.map((runKey) => harness.client.start(slowBesideQuick, runKey)));
      const results = await Promise.all(runs.map((run) => run.result()));
      harness.world.beforeAppend = undefined;
      expect(results).toEqual(keys.map(() => ['slow', 'quick']));
      expect(keys.map((runKey) => executions.get(`${runKey}:slow`))).toEqual(keys.map(() => 1));
    });

    it('records every attempt of a mapped step exactly once in the log', async () => {
      await harness.startWorker({ workflows: [mapped], concurrency: 1 });
      const run = await harness.client.start(mapped, { key: key(), count: 6, limit: 6 });
      await run.result();
      const completions = (await allEvents(harness.world, run.id)).filter(
        (event) => event.eventType === 'step_completed',
      );
      expect(completions).toHaveLength(6);
    });
  });
}
