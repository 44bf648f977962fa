import { FatalError, InvalidInputError, MapError, map, replayRun, StepFailedError, step, workflow } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allEvents, type EngineSuiteOptions, gate, type Harness, openHarness } from '../harness.js';

/** Per-test bookkeeping the step bodies report into, keyed by a test-chosen key. */
interface Probe {
  inFlight: number;
  maxInFlight: number;
  executions: Map<number, number>;
  gates: Map<number, ReturnType<typeof gate>>;
  started: Map<number, ReturnType<typeof gate>>;
}
const probes = new Map<string, Probe>();
const probe = (key: string): Probe => {
  let found = probes.get(key);
  if (!found) {
    found = { inFlight: 0, maxInFlight: 0, executions: new Map(), gates: new Map(), started: new Map() };
    probes.set(key, found);
  }
  return found;
};
const gateFor = (map: Map<number, ReturnType<typeof gate>>, index: number) => {
  if (!map.has(index)) map.set(index, gate());
  return map.get(index)!;
};

const work = step('map.work', async (key: string, index: number) => {
  const state = probe(key);
  state.executions.set(index, (state.executions.get(index) ?? 0) + 1);
  state.inFlight += 1;
  state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
  gateFor(state.started, index).open();
  try {
    // Bodies wait for the test to release them: that is how completion order is forced.
    await gateFor(state.gates, index).promise;
    return index * 10;
  } finally {
    state.inFlight -= 1;
  }
});
const failAt = step('map.fail-at', async (index: number, failing: number) => {
  if (index === failing) throw new FatalError(`item ${index} is bad`);
  return index;
});
const validate = step('map.validate', async (results: number[]) => results.length);
const cheap = step('map.cheap', async (index: number) => index % 7);

const gated = workflow('map.gated', async ({ key, count, limit }: { key: string; count: number; limit: number }) =>
  map(
    Array.from({ length: count }, (_, index) => index),
    (index) => work(key, index),
    { maxConcurrency: limit },
  ),
);
const failFast = workflow('map.fail-fast', async (failing: number) => {
  try {
    await map(
      Array.from({ length: 10 }, (_, index) => index),
      (index) => failAt(index, failing),
      { maxConcurrency: 2 },
    );
    return { failed: false };
  } catch (error) {
    if (!MapError.is(error)) throw error;
    return {
      failed: true,
      failedIndex: error.failedIndex,
      completedPrefix: error.completedPrefix,
      message: error.message,
    };
  }
});
const settle = workflow('map.settle', async (failing: number) => {
  const settled = await map([0, 1, 2, 3], (index) => failAt(index, failing), {
    maxConcurrency: 2,
    continueOnError: true,
  });
  return settled.map((outcome) =>
    outcome.status === 'fulfilled' ? outcome.value : StepFailedError.is(outcome.reason) ? 'failed' : 'wrong',
  );
});
const empty = workflow('map.empty', async () => map([], async () => 1));
const thenValidate = workflow('map.then-validate', async (key: string) => {
  const results = await map([0, 1, 2, 3, 4, 5], (index) => work(key, index), { maxConcurrency: 3 });
  return validate(results);
});
const large = workflow('map.large', async (count: number) => {
  const results = await map(
    Array.from({ length: count }, (_, index) => index),
    (index) => cheap(index),
    { maxConcurrency: 50 },
  );
  return results.reduce((sum, value) => sum + value, 0);
});

export function describeMap(options: EngineSuiteOptions): void {
  describe(`${options.name}: map`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await harness.close();
    });
    const key = () => `map-${Math.random()}`;

    it('never has more than maxConcurrency calls in flight', async () => {
      const probeKey = key();
      const state = probe(probeKey);
      await harness.startWorker({ workflows: [gated], concurrency: 20 });
      const run = await harness.client.start(gated, { key: probeKey, count: 12, limit: 3 });
      // A barrier: item i is released only once item i+2 has started, so three bodies are
      // running at every release. A fourth start would break the bound the map promises.
      for (let index = 0; index < 12; index++) {
        await gateFor(state.started, Math.min(index + 2, 11)).promise;
        expect(state.inFlight).toBeLessThanOrEqual(3);
        gateFor(state.gates, index).open();
      }
      expect(await run.result()).toEqual(Array.from({ length: 12 }, (_, index) => index * 10));
      expect(state.maxInFlight).toBe(3);
    });

    it('returns results in item order when completions come in reverse', async () => {
      const probeKey = key();
      const state = probe(probeKey);
      await harness.startWorker({ workflows: [gated], concurrency: 20 });
      const run = await harness.client.start(gated, { key: probeKey, count: 6, limit: 6 });
      for (let index = 0; index < 6; index++) await gateFor(state.started, index).promise;
      for (let index = 5; index >= 0; index--) {
        gateFor(state.gates, index).open();
        // Wait until this completion is in the log before releasing the next one.
        const stepId = `step:map.work@map0.${index}#0`;
        for (;;) {
          // The tail is read before the step, so a completion landing between the two reads
          // still wakes the watch instead of leaving it waiting for an event that never comes.
          const { lastSeq } = await harness.world.runs.get(run.id);
          if ((await harness.world.steps.get(run.id, stepId)).status === 'completed') break;
          await harness.world.events.watch(run.id, lastSeq);
        }
      }
      const result = await run.result();
      expect(result).toEqual([0, 10, 20, 30, 40, 50]);
      const completions = (await allEvents(harness.world, run.id))
        .filter((event) => event.eventType === 'step_completed')
        .map((event) => event.correlationId);
      expect(completions).toEqual([5, 4, 3, 2, 1, 0].map((index) => `step:map.work@map0.${index}#0`));
      expect(await replayRun(harness.world, gated, run.id)).toEqual({ status: 'completed', output: result });
    });

    it('stops at the first failure and carries the completed prefix', async () => {
      await harness.startWorker({ workflows: [failFast], concurrency: 20 });
      const run = await harness.client.start(failFast, 3);
      const result = await run.result();
      expect(result).toMatchObject({ failed: true, failedIndex: 3, completedPrefix: [0, 1, 2] });
      const created = (await allEvents(harness.world, run.id)).filter((event) => event.eventType === 'step_created');
      // Items 0-3 started, and at most item 4 beside them; nothing after the failure point.
      expect(created.length).toBeLessThanOrEqual(5);
      for (const event of created)
        expect(Number(/@map0\.(\d+)#/.exec(event.correlationId!)![1])).toBeLessThanOrEqual(4);
    });

    it('runs every item with continueOnError and settles each', async () => {
      await harness.startWorker({ workflows: [settle] });
      const run = await harness.client.start(settle, 1);
      expect(await run.result()).toEqual([0, 'failed', 2, 3]);
    });

    it('handles an empty list', async () => {
      await harness.startWorker({ workflows: [empty] });
      expect(await (await harness.client.start(empty, undefined)).result()).toEqual([]);
    });

    it('rejects bad arguments with InvalidInputError naming the value, as a rejected promise, never a throw', async () => {
      for (const bad of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '3']) {
        let returned: Promise<unknown> | undefined;
        expect(() => {
          returned = map([1], async () => 1, { maxConcurrency: bad as number });
        }).not.toThrow();
        const error = await returned!.catch((caught: unknown) => caught);
        expect(InvalidInputError.is(error)).toBe(true);
        expect((error as InvalidInputError).field).toBe('map(options.maxConcurrency)');
        expect((error as Error).message).toContain(typeof bad === 'string' ? '"3"' : `got ${bad}`);
      }
      await expect(map('abc' as never, async () => 1)).rejects.toSatisfy(InvalidInputError.is);
      await expect(map([1], 'fn' as never)).rejects.toSatisfy(InvalidInputError.is);
    });

    it('gives each item a stable id, so a new worker does not re-run completed items', async () => {
      const probeKey = key();
      const state = probe(probeKey);
      const worker = await harness.startWorker({ workflows: [gated], concurrency: 20 });
      const run = await harness.client.start(gated, { key: probeKey, count: 6, limit: 3 });
      for (const index of [0, 1, 2]) {
        await gateFor(state.started, index).promise;
        gateFor(state.gates, index).open();
      }
      for (const index of [3, 4, 5]) await gateFor(state.started, index).promise;
      // The worker goes away with items 3-5 mid-flight; they finish as it stops gracefully.
      const stopping = worker.stop();
      for (const index of [3, 4, 5]) gateFor(state.gates, index).open();
      await stopping;
      await harness.startWorker({ workflows: [gated], concurrency: 20 });
      expect(await run.result()).toEqual([0, 10, 20, 30, 40, 50]);
      expect([...state.executions.values()]).toEqual([1, 1, 1, 1, 1, 1]);
    });

    it('creates the successor of a fan-out exactly once when items finish at the same instant', async () => {
      const runs = 12;
      const probeKeys = Array.from({ length: runs }, key);
      // No run lease and three workers: orchestrations of one run really race.
      const racing = await openHarness(options, false);
      try {
        for (let worker = 0; worker < 3; worker++)
          await racing.startWorker({ workflows: [thenValidate], concurrency: 20 });
        const handles = await Promise.all(probeKeys.map((probeKey) => racing.client.start(thenValidate, probeKey)));
        // Release every item of every run at once, batch by batch, so completions collide.
        for (const batch of [
          [0, 1, 2],
          [3, 4, 5],
        ]) {
          for (const probeKey of probeKeys)
            for (const index of batch) await gateFor(probe(probeKey).started, index).promise;
          for (const probeKey of probeKeys) for (const index of batch) gateFor(probe(probeKey).gates, index).open();
        }
        for (const handle of handles) expect(await handle.result()).toBe(6);
        for (const handle of handles) {
          const events = await allEvents(racing.world, handle.id);
          const validates = events.filter(
            (event) => event.eventType === 'step_created' && event.correlationId === 'step:map.validate#0',
          );
          expect(validates).toHaveLength(1);
          const createdIds = events
            .filter((event) => event.eventType === 'step_created')
            .map((event) => event.correlationId);
          expect(new Set(createdIds).size).toBe(createdIds.length);
        }
      } finally {
        await racing.close();
      }
    });

    it('runs 10,000 items at maxConcurrency 50 with bounded memory', { timeout: 240_000 }, async () => {
      await harness.startWorker({ workflows: [large], concurrency: 50 });
      const heapBefore = process.memoryUsage().heapUsed;
      const run = await harness.client.start(large, 10_000);
      const expected = Array.from({ length: 10_000 }, (_, index) => index % 7).reduce((sum, value) => sum + value, 0);
      expect(await run.result()).toBe(expected);
      const steps = (await harness.world.runs.get(run.id)).lastSeq;
      expect(steps).toBeGreaterThanOrEqual(20_000);
      // The log itself is in memory on world-local; everything else must stay small.
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(400 * 1024 * 1024);
    });
  });
}
