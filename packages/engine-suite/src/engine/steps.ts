import { FatalError, RetryableError, StepFailedError, step, workflow } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allEvents, type EngineSuiteOptions, gate, type Harness, openHarness } from '../harness.js';
import { stepTopic } from '../topics.js';

const attempts = new Map<string, number>();
/** When each attempt began, by key, on this process's monotonic clock. */
const attemptStarts = new Map<string, number[]>();
const countAttempt = (key: string) => {
  const next = (attempts.get(key) ?? 0) + 1;
  attempts.set(key, next);
  attemptStarts.set(key, [...(attemptStarts.get(key) ?? []), performance.now()]);
  return next;
};

const flaky = step(
  'steps.flaky',
  async (key: string, failures: number) => {
    const attempt = countAttempt(key);
    if (attempt <= failures) throw new Error(`transient failure ${attempt}`);
    return attempt;
  },
  { maxRetries: 5, backoff: { initialMs: 30, factor: 2, maxMs: 1000 } },
);
const fatal = step('steps.fatal', async (key: string) => {
  countAttempt(key);
  throw new FatalError('card declined');
});
const rateLimited = step(
  'steps.rate-limited',
  async (key: string) => {
    if (countAttempt(key) === 1) throw new RetryableError('slow down', { retryAfter: 120 });
    return 'served';
  },
  { backoff: { initialMs: 5 } },
);
const exhausted = step(
  'steps.exhausted',
  async (key: string) => {
    countAttempt(key);
    throw new Error('always');
  },
  { maxRetries: 1, backoff: { initialMs: 5 } },
);
const timed = step(
  'steps.timed',
  async (key: string) => {
    if (countAttempt(key) === 1) await new Promise((resolve) => setTimeout(resolve, 1000));
    return 'in time';
  },
  { timeoutMs: 50, backoff: { initialMs: 5 } },
);
const square = step('steps.square', async (value: number) => value * value);
const stopGates = new Map<string, { started: () => void; release: Promise<void> }>();
const slowToStop = step('steps.slow-to-stop', async (key: string) => {
  const gateForKey = stopGates.get(key);
  gateForKey?.started();
  await gateForKey?.release;
  return `finished ${key}`;
});
const stopping = workflow('steps.stopping', async (key: string) => {
  const first = await slowToStop(key);
  return `${first}, then ${await square(3)}`;
});

const retrying = workflow('steps.retrying', async (key: string) => flaky(key, 2));
const failing = workflow('steps.failing', async (key: string) => {
  try {
    await fatal(key);
    return 'unreachable';
  } catch (error) {
    return StepFailedError.is(error) ? `${error.failure.name}: ${error.failure.message}` : 'wrong error';
  }
});
const limited = workflow('steps.limited', async (key: string) => rateLimited(key));
const giveUp = workflow('steps.give-up', async (key: string) => exhausted(key));
const timing = workflow('steps.timing', async (key: string) => timed(key));
const squares = workflow('steps.squares', async (count: number) =>
  Promise.all(Array.from({ length: count }, (_, index) => square(index))),
);

export function describeSteps(options: EngineSuiteOptions): void {
  describe(`${options.name}: steps`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await harness.close();
    });
    const key = () => `key-${Math.random()}`;

    it('retries with exponential backoff and records each failed attempt', async () => {
      await harness.startWorker({ workflows: [retrying] });
      const stepKey = key();
      const run = await harness.client.start(retrying, stepKey);
      expect(await run.result()).toBe(3);
      const events = await allEvents(harness.world, run.id);
      const retries = events.filter((event) => event.eventType === 'step_retrying');
      expect(retries).toHaveLength(2);
      const [first, second] = retries.map((event) => (event.eventData as { retryAfter: number }).retryAfter);
      const completed = events.find((event) => event.eventType === 'step_completed')!;
      // 30 ms after the first failure, then 60 ms after the second, which came no earlier
      // than the first retry was due. Judged on due times, not commit latencies.
      expect(second! - first!).toBeGreaterThanOrEqual(60);
      // And the attempts themselves, on the body's own clock (event stamps may run ahead of
      // it by the engine's stamp margin; due times are whole milliseconds, hence the 1 ms).
      const [attempt1, attempt2, attempt3] = attemptStarts.get(stepKey)!;
      expect(attempt2! - attempt1!).toBeGreaterThanOrEqual(29);
      expect(attempt3! - attempt2!).toBeGreaterThanOrEqual(59);
      expect(completed.createdAt).toBeGreaterThanOrEqual(second!);
      expect((await harness.world.steps.get(run.id, 'step:steps.flaky#0')).retries).toBe(2);
    });

    it('stops at once on FatalError and surfaces it as StepFailedError', async () => {
      await harness.startWorker({ workflows: [failing] });
      const stepKey = key();
      const run = await harness.client.start(failing, stepKey);
      expect(await run.result()).toBe('FatalError: card declined');
      expect(attempts.get(stepKey)).toBe(1);
      const step = await harness.world.steps.get(run.id, 'step:steps.fatal#0');
      expect(step.status).toBe('failed');
      expect(step.error?.name).toBe('FatalError');
    });

    it("honours RetryableError's retryAfter", async () => {
      await harness.startWorker({ workflows: [limited] });
      const stepKey = key();
      const run = await harness.client.start(limited, stepKey);
      expect(await run.result()).toBe('served');
      const events = await allEvents(harness.world, run.id);
      const retry = events.find((event) => event.eventType === 'step_retrying')!;
      const completed = events.find((event) => event.eventType === 'step_completed')!;
      const retryAfter = (retry.eventData as { retryAfter: number }).retryAfter;
      // The first attempt asked for 120 ms; the second began no sooner. Measured on the
      // body's own clock: event stamps may run ahead of it by the engine's stamp margin.
      const [first, second] = attemptStarts.get(stepKey)!;
      expect(second! - first!).toBeGreaterThanOrEqual(115);
      // And on the World's clock, the completion is no earlier than the retry was due.
      expect(completed.createdAt).toBeGreaterThanOrEqual(retryAfter);
    });

    it('fails the run once retries are exhausted', async () => {
      await harness.startWorker({ workflows: [giveUp] });
      const stepKey = key();
      const run = await harness.client.start(giveUp, stepKey);
      const error = await run.result().catch((caught: unknown) => caught);
      expect((error as { failure?: { name?: string } }).failure?.name).toBe('StepFailedError');
      expect(attempts.get(stepKey)).toBe(2);
      expect(await run.status()).toBe('failed');
    });

    it('fails an attempt that exceeds timeoutMs and retries it', async () => {
      await harness.startWorker({ workflows: [timing] });
      const run = await harness.client.start(timing, key());
      expect(await run.result()).toBe('in time');
      const [retry] = (await allEvents(harness.world, run.id)).filter((event) => event.eventType === 'step_retrying');
      expect((retry!.eventData as { error: { name: string } }).error.name).toBe('StepTimeoutError');
    });

    it('runs steps inline while the worker has capacity, and through the queue beyond it', async () => {
      await harness.startWorker({ workflows: [squares], concurrency: 2 });
      const run = await harness.client.start(squares, 6);
      expect(await run.result()).toEqual([0, 1, 4, 9, 16, 25]);
      // Distinct steps handed to the queue: a later wake may send one again, which the
      // World deduplicates by its idempotency key, so repeats are not counted.
      const queued = new Set(
        harness.world.sends.filter((send) => send.topic === stepTopic).map((send) => JSON.stringify(send.payload)),
      );
      // Two ran inline; the other four were handed to the step queue.
      expect(queued.size).toBeGreaterThanOrEqual(1);
      expect(queued.size).toBeLessThanOrEqual(4);
      const completions = (await allEvents(harness.world, run.id)).filter(
        (event) => event.eventType === 'step_completed',
      );
      expect(new Set(completions.map((event) => event.correlationId)).size).toBe(6);
      expect(completions).toHaveLength(6);
    });

    it('runs everything inline when capacity allows', async () => {
      await harness.startWorker({ workflows: [squares], concurrency: 10 });
      const run = await harness.client.start(squares, 6);
      expect(await run.result()).toEqual([0, 1, 4, 9, 16, 25]);
      expect(harness.world.sends.filter((send) => send.topic === stepTopic)).toHaveLength(0);
    });

    it('stops gracefully: an in-flight step finishes and is recorded, and the next worker carries on', async () => {
      const stepKey = key();
      const started = gate();
      const release = gate();
      stopGates.set(stepKey, { started: () => started.open(), release: release.promise });
      const worker = await harness.startWorker({ workflows: [stopping] });
      const run = await harness.client.start(stopping, stepKey);
      await started.promise;
      let stopped = false;
      const stoppingWorker = worker.stop().then(() => {
        stopped = true;
      });
      // stop() must wait for the step it is running.
      await new Promise((resolve) => setImmediate(resolve));
      expect(stopped).toBe(false);
      release.open();
      await stoppingWorker;
      const step = await harness.world.steps.get(run.id, 'step:steps.slow-to-stop#0');
      expect(step.status).toBe('completed');
      await harness.startWorker({ workflows: [stopping] });
      expect(await run.result()).toBe(`finished ${stepKey}, then 9`);
    });

    it('is a plain call outside a workflow', async () => {
      expect(await square(7)).toBe(49);
    });
  });
}
