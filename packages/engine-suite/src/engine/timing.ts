import { createHook, getStepMetadata, sleep, step, workflow } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allEvents, type EngineSuiteOptions, eventually, gate, type Harness, openHarness } from '../harness.js';

const executions = new Map<string, number>();
/** Keys of `held` steps whose abort signal fired. */
const abortedKeys = new Set<string>();
const ran = (key: string) => executions.set(key, (executions.get(key) ?? 0) + 1);
const releases = new Map<string, ReturnType<typeof gate>>();
const releaseFor = (key: string) => {
  if (!releases.has(key)) releases.set(key, gate());
  return releases.get(key)!;
};

/** Runs until the test releases it, or until its signal aborts. */
const held = step('timing.held', async (key: string) => {
  ran(key);
  const { signal } = getStepMetadata();
  await Promise.race([
    releaseFor(key).promise,
    new Promise<void>((resolve) =>
      signal.addEventListener(
        'abort',
        () => {
          abortedKeys.add(key);
          resolve();
        },
        { once: true },
      ),
    ),
  ]);
  return signal.aborted ? 'aborted' : 'step';
});
const heldOnly = workflow('timing.held-only', async (key: string) => held(key));
const timedOut = step(
  'timing.timed-out',
  async (key: string) => {
    ran(key);
    const { signal } = getStepMetadata();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    abortedKeys.add(key);
    return 'late';
  },
  { timeoutMs: 100, maxRetries: 0 },
);
const timesOut = workflow('timing.times-out', async (key: string) => timedOut(key).catch(() => 'timed out'));
const started = new Map<string, number>();
const slowItem = step('timing.slow-item', async (key: string, index: number) => {
  started.set(key, (started.get(key) ?? 0) + 1);
  await new Promise((resolve) => setTimeout(resolve, 40));
  return index;
});
const wideSlow = workflow('timing.wide-slow', async (key: string) =>
  Promise.all(Array.from({ length: 60 }, (_, index) => slowItem(key, index))),
);
/** Runs until the test releases it; it never looks at its signal. */
const gated = step('timing.gated', async (key: string) => {
  ran(key);
  await releaseFor(key).promise;
  return 'step';
});
const sleepBeatsStep = workflow('timing.sleep-beats-step', async (key: string) =>
  Promise.race([gated(key), sleep(300).then(() => 'sleep')]),
);

const quarterSecond = step('timing.quarter-second', async (key: string, index: number) => {
  ran(`${key}:${index}`);
  await new Promise((resolve) => setTimeout(resolve, 250));
  return index;
});
const longChain = workflow('timing.long-chain', async (key: string) => {
  const results: number[] = [];
  for (let index = 0; index < 6; index++) results.push(await quarterSecond(key, index));
  return results;
});

const slowOnce = step('timing.slow-once', async (key: string) => {
  ran(key);
  await new Promise((resolve) => setTimeout(resolve, 300));
  return 'done';
});
const losesLease = workflow('timing.loses-lease', async (key: string) => `${await slowOnce(key)} once`);

const twoPending = workflow('timing.two-pending', async (token: string) => {
  const hook = createHook<string>({ token });
  const iterator = hook[Symbol.asyncIterator]();
  const first = iterator.next();
  const second = iterator.next();
  return [(await first).value, (await second).value];
});
/**
 * The documented way to race a hook against a timeout: keep the pending `next()` across
 * turns of the loop, since an abandoned one would still claim its payload.
 */
const tickingInbox = workflow('timing.ticking-inbox', async ({ token, count }: { token: string; count: number }) => {
  const hook = createHook<string>({ token });
  const iterator = hook[Symbol.asyncIterator]();
  const seen: string[] = [];
  let pending = iterator.next();
  for (let ticks = 0; seen.length < count && ticks < 400; ticks++) {
    const winner = await Promise.race([pending, sleep(20).then(() => 'tick' as const)]);
    if (winner === 'tick') continue;
    seen.push(winner.value as string);
    pending = iterator.next();
  }
  return seen;
});

export function describeTiming(options: EngineSuiteOptions): void {
  describe(`${options.name}: timing and leases`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      for (const release of releases.values()) release.open();
      await harness.close();
    });
    const key = () => `key-${Math.random()}`;

    it('lets a sleep win a race against a step still running inline', async () => {
      await harness.startWorker({ workflows: [sleepBeatsStep] });
      const stepKey = key();
      const run = await harness.client.start(sleepBeatsStep, stepKey);
      const outcome = await Promise.race([
        run.result(),
        new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5000)),
      ]);
      releaseFor(stepKey).open();
      expect(outcome).toBe('sleep');
      const events = await allEvents(harness.world, run.id);
      const completed = events.find((event) => event.eventType === 'wait_completed');
      const created = events.find((event) => event.eventType === 'wait_created');
      expect(completed).toBeDefined();
      expect(completed!.createdAt).toBeGreaterThanOrEqual((created!.eventData as { resumeAt: number }).resumeAt);
    });

    it('renews the run lease while a pass chains steps longer than the lease', async () => {
      await harness.startWorker({ workflows: [longChain], orchestrationLeaseMs: 400 });
      const runKey = key();
      const run = await harness.client.start(longChain, runKey);
      expect(await run.result()).toEqual([0, 1, 2, 3, 4, 5]);
      const counts = Array.from({ length: 6 }, (_, index) => executions.get(`${runKey}:${index}`));
      expect(counts).toEqual([1, 1, 1, 1, 1, 1]);
    });

    it('does not run a step again when a stalled process loses the run lease to itself', async () => {
      // The World answers the pass's first renewal with "lost", as it would after a stall
      // past the lease; the pass gives the run up and its message comes back to this worker.
      let refusals = 1;
      const consume = harness.world.queue.consume;
      harness.world.queue.consume = (topic, handler, consumeOptions) =>
        consume(
          topic,
          (message, delivery) =>
            handler(message, {
              extendLease: async (leaseMs) => (refusals-- > 0 ? false : delivery.extendLease(leaseMs)),
            }),
          consumeOptions,
        );
      // A pass this process took without the queue renews its claim instead: refused the same way.
      const extendClaim = harness.world.queue.extendClaim;
      if (extendClaim !== undefined) {
        harness.world.queue.extendClaim = async (claim, leaseMs) =>
          refusals-- > 0 ? false : extendClaim(claim, leaseMs);
      }
      await harness.startWorker({ workflows: [losesLease], orchestrationLeaseMs: 150 });
      const stepKey = key();
      const run = await harness.client.start(losesLease, stepKey);
      expect(await run.result()).toBe('done once');
      expect(refusals).toBeLessThan(1);
      expect(executions.get(stepKey)).toBe(1);
    });

    it('gives each pending next() of a hook iterator its own payload, in order', async () => {
      await harness.startWorker({ workflows: [twoPending] });
      const token = `pending-${Math.random()}`;
      const run = await harness.client.start(twoPending, token);
      await waitForHook(harness, token);
      await harness.client.resumeHook(token, 'A');
      await harness.client.resumeHook(token, 'B');
      expect(await run.result()).toEqual(['A', 'B']);
    });

    it('delivers every payload to a hook iterator raced against a ticking sleep', async () => {
      await harness.startWorker({ workflows: [tickingInbox] });
      const token = `ticking-${Math.random()}`;
      const run = await harness.client.start(tickingInbox, { token, count: 3 });
      await waitForHook(harness, token);
      for (const payload of ['A', 'B', 'C']) await harness.client.resumeHook(token, payload);
      expect(await run.result()).toEqual(['A', 'B', 'C']);
    });

    it('aborts the signal of a step that passes its timeout', async () => {
      await harness.startWorker({ workflows: [timesOut] });
      const stepKey = key();
      const run = await harness.client.start(timesOut, stepKey);
      expect(await run.result()).toBe('timed out');
      await eventually(async () => (abortedKeys.has(stepKey) ? true : undefined), 5000, 'the step signal to abort');
    });

    it('starts no step attempt after stop() is called, and records the running ones', async () => {
      const worker = await harness.startWorker({ workflows: [wideSlow], concurrency: 4 });
      const runKey = key();
      const run = await harness.client.start(wideSlow, runKey);
      await eventually(async () => ((started.get(runKey) ?? 0) >= 4 ? true : undefined), 5000, 'steps to start');
      const stopping = worker.stop();
      const startedAtStop = started.get(runKey)!;
      await stopping;
      // Attempts already handed to a step consumer may still begin; nothing new may start after that.
      const afterStop = started.get(runKey)!;
      expect(afterStop - startedAtStop).toBeLessThanOrEqual(4);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(started.get(runKey)).toBe(afterStop);
      const completed = (await allEvents(harness.world, run.id)).filter(
        (event) => event.eventType === 'step_completed',
      );
      expect(completed.length).toBe(afterStop);
      await harness.startWorker({ workflows: [wideSlow], concurrency: 4 });
      expect(await run.result()).toHaveLength(60);
    });

    it('aborts the signal of a running step when its run is cancelled', async () => {
      await harness.startWorker({ workflows: [heldOnly] });
      const stepKey = key();
      const run = await harness.client.start(heldOnly, stepKey);
      await eventually(async () => (executions.get(stepKey) ? true : undefined), 5000, 'the step to start');
      await harness.client.cancel(run.id);
      await eventually(async () => (abortedKeys.has(stepKey) ? true : undefined), 5000, 'the step signal to abort');
      expect(await run.status()).toBe('cancelled');
    });
  });
}

async function waitForHook(harness: Harness, token: string): Promise<void> {
  await eventually(
    () => harness.world.hooks.getByToken(token).catch(() => undefined),
    10_000,
    `a hook holding ${token}`,
  );
}
