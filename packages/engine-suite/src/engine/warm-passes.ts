import { createClient, createHook, workflow } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allEvents, type EngineSuiteOptions, eventually, type Harness, openHarness } from '../harness.js';
import { hookOrSleep, longChain, slowish } from './invariant-workflows.js';
import { expectInOneOfThreeAttempts } from './stall-tolerant.js';

// What a pass reads and writes once it is warm: one durable write per step, no reading
// back of what this process wrote or was told, and stamps that need no clock read.

/** `width` steps at once, each taking a little while, so their attempts overlap. */
const wideFanOut = workflow('invariant.wide-fan-out', async (width: number) =>
  Promise.all(Array.from({ length: width }, () => slowish(30))),
);

const awaitsHook = workflow('invariant.awaits-hook', async (token: string) => createHook<string>({ token }));

export function describeWarmPasses(options: EngineSuiteOptions): void {
  describe(`${options.name}: warm passes`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await harness.close();
    });

    it('keeps runs warm: one durable write per step and no re-reading of the log', async () => {
      await harness.startWorker({ workflows: [longChain] });
      // Warmed up first, as below: a cold World can be slow enough to refuse the first
      // proposed stamps, which a pass meets by reading the log; this test is about the
      // steady state.
      expect(await (await harness.client.start(longChain, 1)).result()).toBe(1);
      const steps = 40;
      const readsBefore = harness.world.eventsRead;
      const run = await harness.client.start(longChain, steps);
      expect(await run.result()).toBe(steps);
      // Committed appends only: on a loaded machine an append can take long enough for the
      // World to refuse its proposed stamp, and the pass then tries again, writing once.
      const appends = harness.world.calls.filter((call) => call.runId === run.id && call.committed).length;
      // run_created, then one batch per step (completion + next step_created), then the last.
      expect(appends).toBeLessThanOrEqual(steps + 3);
      // A warm replay consumes its own writes without reading them back: reads stay flat.
      // A refused append is the exception by design: the pass reads the log once to
      // recover, at most the whole run so far (2 events per step and 3 more).
      const refused = harness.world.calls.filter((call) => call.runId === run.id && !call.committed).length;
      expect(harness.world.eventsRead - readsBefore).toBeLessThan(10 + refused * (2 * steps + 3));
    });

    it('records a step that settles at once without subscribing to the log first', async () => {
      await harness.startWorker({ workflows: [longChain] });
      const steps = 30;
      const run = await harness.client.start(longChain, steps);
      // Polled rather than awaited with result(), whose own watches would be counted too.
      await eventually(
        async () => ((await harness.world.runs.get(run.id)).status === 'completed' ? true : undefined),
        10_000,
        'the chain to complete',
      );
      // A watch per step would cost every step a read and a subscription on the World for
      // nothing: a no-op body has settled before the pass would start waiting.
      const watches = harness.world.watches.filter((watch) => watch.runId === run.id);
      expect(watches.length).toBeLessThanOrEqual(3);
    });

    it('starts a cold pass from one read of the log, without reading the run', async () => {
      await harness.startWorker({ workflows: [longChain] });
      // Started by a client of another World object, as from another process: the worker
      // knows nothing of the run but its wake. A first such run warms the worker and its
      // connections up, as in the test below.
      const outsider = createClient({ world: harness.world.inner });
      expect(await (await outsider.start(longChain, 1)).result()).toBe(1);
      const run = await outsider.start(longChain, 3);
      // Polled on the World underneath, so the test's own reads are not counted.
      await eventually(
        async () => ((await harness.world.inner.runs.get(run.id)).status === 'completed' ? true : undefined),
        10_000,
        'the chain to complete',
      );
      // The log's first event names the workflow and the parent, so reading the run as
      // well would cost every cold pass a second round trip before it can decide anything.
      const reads = harness.world.reads.filter((read) => read.runId === run.id);
      expect(reads.filter((read) => read.method === 'runs.get')).toEqual([]);
      // A loaded machine can still make the World refuse a proposed stamp; the pass may then
      // read the log again, as designed, at most once per refusal. With none, exactly once.
      const refused = harness.world.calls.filter((call) => call.runId === run.id && !call.committed);
      const logReads = reads.filter((read) => read.method === 'events.list').length;
      expect(logReads).toBeGreaterThanOrEqual(1);
      expect(logReads).toBeLessThanOrEqual(1 + refused.length);
    });

    it('starts the first pass of a run a client in the same process created without reading the log', async () => {
      await harness.startWorker({ workflows: [longChain] });
      // A first run warms the worker up: its first stamp is proposed before the worker has
      // seen how long an append takes, and a cold World (new connections, statements not
      // yet prepared) may take long enough to refuse it, which a pass meets by reading the
      // log, as designed.
      expect(await (await harness.client.start(longChain, 1)).result()).toBe(1);
      const run = await harness.client.start(longChain, 3);
      expect(await run.result()).toBe(3);
      // The client knows the log it just wrote; the pass's first commit is fenced on its tail.
      const logReads = harness.world.reads.filter((read) => read.runId === run.id && read.method === 'events.list');
      expect(logReads).toEqual([]);
    });

    it('keeps many runs waiting at once without a listener-leak warning', async () => {
      // Node warns once an AbortSignal has more than ten listeners: a worker's own stop
      // signal has one per waiting pass and per running attempt, which is by design.
      const warnings: string[] = [];
      const onWarning = (warning: Error) => {
        if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning.message);
      };
      process.on('warning', onWarning);
      try {
        // Without the run lease every step goes through the step queue.
        await harness.startWorker({ workflows: [wideFanOut, hookOrSleep], concurrency: 50, runLease: false });
        const runs = await Promise.all(
          Array.from({ length: 20 }, (_, index) =>
            harness.client.start(hookOrSleep, `waiting-${index}-${Math.random()}`),
          ),
        );
        expect(await (await harness.client.start(wideFanOut, 20)).result()).toHaveLength(20);
        for (const run of runs) expect(await run.result()).toBe('sleep');
        // Warnings are emitted on a later tick.
        await new Promise((resolve) => setImmediate(resolve));
      } finally {
        process.off('warning', onWarning);
      }
      expect(warnings).toEqual([]);
    });

    it('wakes a run for a hook delivered from the same process without reading the log', async () => {
      await harness.startWorker({ workflows: [awaitsHook] });
      const token = `same-process:${Math.random().toString(36).slice(2)}`;
      const run = await harness.client.start(awaitsHook, token);
      await harness.client.waitForHook(token);
      const logReads = () =>
        harness.world.reads.filter((read) => read.runId === run.id && read.method === 'events.list').length;
      const before = logReads();
      await harness.client.resumeHook(token, 'delivered');
      expect(await run.result()).toBe('delivered');
      // The delivering client knows the event it appended; the pass takes it from there.
      expect(logReads() - before).toBe(0);
    });

    it('catches up when a run created in the same process moved on before its first pass', async () => {
      const run = await harness.client.start(longChain, 2);
      // Cancelled before any worker saw it: the log the client remembers is stale.
      await harness.world.inner.events.create(run.id, { eventType: 'run_cancelled', eventData: { reason: 'early' } });
      await harness.startWorker({ workflows: [longChain] });
      await expect(run.result()).rejects.toThrow(/cancel/i);
      const events = await allEvents(harness.world.inner, run.id);
      expect(events.map((event) => event.eventType)).toEqual(['run_created', 'run_cancelled']);
    });

    it("stamps a pass's first commit itself once it knows the World's clock", async () => {
      await harness.startWorker({ workflows: [longChain] });
      // The first run's commits teach the worker the World's clock.
      expect(await (await harness.client.start(longChain, 2)).result()).toBe(2);
      // A World that gets the stamp with the batch can write it without reading its clock
      // first; the engine lets the World stamp only while its reading of that clock is stale.
      // A stall can cost a stamp (see `expectInOneOfThreeAttempts`).
      await expectInOneOfThreeAttempts("every commit of a run's passes stamped", async () => {
        const run = await harness.client.start(longChain, 2);
        expect(await run.result()).toBe(2);
        const workerAppends = harness.world.calls.filter(
          (call) => call.runId === run.id && !call.eventTypes.includes('run_created'),
        );
        expect(workerAppends.length).toBeGreaterThan(0);
        const unstamped = workerAppends.filter((call) => !call.stamped);
        return unstamped.length === 0 || `unstamped: ${JSON.stringify(unstamped)}`;
      });
    });

    it('stays at one write per step when appends take longer than the stamp margin', async () => {
      // A loaded World (say, a saturated connection pool) commits later than an idle one.
      // A completion batch carries a createdAt stamped ahead of the clock; one that lands in
      // the past is refused, and the completion is then written alone and re-derived.
      const appendLatencyMs = 80;
      harness.world.beforeAppend = async (call) => {
        if (call.method === 'createBatch' && call.eventTypes[0] === 'step_completed') {
          await new Promise((resolve) => setTimeout(resolve, appendLatencyMs));
        }
      };
      await harness.startWorker({ workflows: [longChain] });
      const steps = 15;
      // The first slow commit may be refused; after it the margin covers the latency. A stall
      // on top of the latency can cost a few more (see `expectInOneOfThreeAttempts`).
      await expectInOneOfThreeAttempts('at most two completions written alone', async () => {
        const run = await harness.client.start(longChain, steps);
        expect(await run.result()).toBe(steps);
        const calls = harness.world.calls.filter((call) => call.runId === run.id);
        const writtenAlone = calls.filter(
          (call) => call.method === 'create' && call.eventTypes[0] === 'step_completed',
        );
        expect(calls.length).toBeLessThanOrEqual(steps + 3 + 2 * writtenAlone.length);
        return writtenAlone.length <= 2 || `${writtenAlone.length} completions written alone`;
      });
    });
  });
}
