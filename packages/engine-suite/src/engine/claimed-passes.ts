import { FenceConflictError, RunFailedError, step, workflow } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EngineSuiteOptions, eventually, gate, type Harness } from '../harness.js';
import { workflowTopic } from '../topics.js';
import { awaitsHook, chain, openClaimsHarness, wakesDelivered as wakesDeliveredOf } from './claims-harness.js';
import { expectInOneOfThreeAttempts } from './stall-tolerant.js';

const returnsAtOnce = workflow('claimed.returns-at-once', async (label: string) => `done:${label}`);

let release = gate();
const held = step('claimed.held', async (label: string) => {
  await release.promise;
  return label;
});
const heldRun = workflow('claimed.held-run', async (label: string) => held(label));

/**
 * Runs that a client starts, or wakes with a hook delivery, in a process whose worker runs
 * the workflow: the pass runs there at once on a wake queued already claimed, and the append
 * that ends the run settles the claim. Only where the World has claims.
 */
export function describeClaimedPasses(options: EngineSuiteOptions): void {
  describe(`${options.name} engine: passes taken without the queue`, () => {
    let harness: Harness;
    beforeEach(async (context) => {
      harness = await openClaimsHarness(options, context);
    });
    afterEach(async () => {
      release.open();
      await harness?.close();
    });

    const wakesDelivered = (runId: string) => wakesDeliveredOf(harness, runId);

    it('runs a started run to its end with no queue delivery, settling the claim in its last append', async () => {
      await harness.startWorker({ workflows: [chain] });
      const run = await harness.client.start(chain, 3);
      expect(await run.result()).toBe(3);
      expect(wakesDelivered(run.id), 'no consumer took the run’s wake').toEqual([]);
      const appends = harness.world.calls.filter((call) => call.runId === run.id);
      expect(appends[0]).toMatchObject({ eventTypes: ['run_created'], claimed: 1 });
      expect(appends.at(-1), 'the ending append acknowledges the claim').toMatchObject({ acknowledged: 1 });
      expect(appends.at(-1)!.eventTypes).toContain('run_completed');
      expect(harness.world.claimCalls.filter((call) => call.method === 'settleClaim')).toEqual([]);
    });

    /**
     * Starts runs until one's stamped creation is honoured, and returns it with its result
     * checked. A stall can cost that stamp (see `expectInOneOfThreeAttempts`): the World
     * refuses the stamped creation and the run is created unstamped, its first pass in an
     * append of its own, so another run shows the one-append creation.
     */
    async function startWithStampHonoured(
      start: () => Promise<{ id: string; result(): Promise<unknown> }>,
      expected: unknown,
    ) {
      let honoured: { id: string } | undefined;
      await expectInOneOfThreeAttempts('a stamped creation honoured', async () => {
        const run = await start();
        expect(await run.result()).toBe(expected);
        const refused = harness.world.calls.filter((call) => call.runId === run.id && !call.committed);
        if (refused.length === 0) {
          honoured = run;
          return true;
        }
        expect(refused, 'only the stamped creation may be refused').toMatchObject([
          { eventTypes: expect.arrayContaining(['run_created', 'run_started']), stamped: true },
        ]);
        return `the creation of ${run.id} refused`;
      });
      return honoured!;
    }

    it('creates a run together with its first pass’s decisions, in one append', async () => {
      await harness.startWorker({ workflows: [chain, returnsAtOnce] });
      // A first run teaches the worker the World's clock. The first pass runs before the run
      // exists only when its events can carry a stamp the World will honour exactly: the
      // workflow code sees that time.
      expect(await (await harness.client.start(chain, 1)).result()).toBe(1);
      const run = await startWithStampHonoured(() => harness.client.start(chain, 2), 2);
      const appends = harness.world.calls.filter((call) => call.runId === run.id);
      expect(appends.map((call) => call.eventTypes)).toEqual([
        ['run_created', 'run_started', 'step_created'],
        ['step_completed', 'step_created'],
        ['step_completed', 'run_completed'],
      ]);
      expect(appends[0]).toMatchObject({ stamped: true, claimed: 1 });
      expect(appends.at(-1)).toMatchObject({ acknowledged: 1 });
      expect(wakesDelivered(run.id)).toEqual([]);

      // A run that ends in its first pass is one append, and needs no wake at all.
      const quick = await startWithStampHonoured(() => harness.client.start(returnsAtOnce, 'quick'), 'done:quick');
      const quickAppends = harness.world.calls.filter((call) => call.runId === quick.id);
      expect(quickAppends.map((call) => call.eventTypes)).toEqual([['run_created', 'run_started', 'run_completed']]);
      const wakes = harness.world.sends.filter(
        (send) => send.topic === workflowTopic && (send.payload as { runId: string }).runId === quick.id,
      );
      expect(wakes).toEqual([]);
      expect((await harness.world.inner.runs.get(quick.id)).status).toBe('completed');
    });

    it('creates the run alone when the World refuses the first pass’s stamp or one of its decisions', async () => {
      await harness.startWorker({ workflows: [chain, awaitsHook] });
      expect(await (await harness.client.start(chain, 1)).result()).toBe(1);
      let refused = 0;
      harness.world.beforeAppend = async (call) => {
        if (refused === 0 && call.eventTypes[0] === 'run_created' && call.eventTypes.length > 1) {
          refused += 1;
          // As a World answers a stamp already in its past: nothing is written.
          throw new FenceConflictError({
            runId: call.runId ?? '',
            expectedEventId: null,
            currentTail: { seq: 0, eventId: '' },
            reason: 'injected: the proposed stamp is in the past',
          });
        }
      };
      const run = await harness.client.start(chain, 2);
      expect(await run.result()).toBe(2);
      expect(refused).toBe(1);
      const appends = harness.world.calls.filter((call) => call.runId === run.id);
      expect(appends[0]!.eventTypes, 'the creation went alone').toEqual(['run_created']);

      // A first pass that claims a token a live hook holds: the run is created alone, and its
      // pass fails it, naming the conflict.
      const token = `taken:${Math.random().toString(36).slice(2)}`;
      const holder = await harness.client.start(awaitsHook, token);
      await harness.client.waitForHook(token);
      const second = await harness.client.start(awaitsHook, token);
      const failure = await second.result().then(
        () => undefined,
        (error: unknown) => error,
      );
      expect(RunFailedError.is(failure)).toBe(true);
      expect((failure as RunFailedError).failure?.name).toBe('HookTokenConflictError');
      const attempts = harness.world.calls.filter((call) => call.runId === second.id).map((call) => call.eventTypes);
      expect(attempts.slice(0, 2), 'refused with the hook, then created alone').toEqual([
        ['run_created', 'run_started', 'hook_created'],
        ['run_created'],
      ]);
      await harness.client.resumeHook(token, 'ab');
      expect(await holder.result()).toBe(3);
    });

    it('takes the pass after a hook delivered from this process, and settles a pass that suspends on its own', async () => {
      await harness.startWorker({ workflows: [awaitsHook] });
      const token = `claimed:${Math.random().toString(36).slice(2)}`;
      const run = await harness.client.start(awaitsHook, token);
      await harness.client.waitForHook(token);
      // The first pass suspended on the hook: its claim is settled alone, as an acknowledgement.
      const settledAlone = await eventually(
        async () => harness.world.claimCalls.find((call) => call.method === 'settleClaim'),
        5000,
        'the suspended pass to settle its claim',
      );
      expect(settledAlone).toEqual({ method: 'settleClaim', outcome: { acknowledge: true }, held: true });
      await harness.client.resumeHook(token, 'four');
      expect(await run.result()).toBe(5);
      expect(wakesDelivered(run.id)).toEqual([]);
      const delivery = harness.world.calls.find((call) => call.eventTypes.includes('hook_received'));
      expect(delivery, 'the hook delivery queued its wake claimed').toMatchObject({ claimed: 1 });
    });

    it('takes up to ten claimed passes per unit of the worker’s concurrency; the rest go through the queue', async () => {
      release = gate();
      await harness.startWorker({ workflows: [heldRun], concurrency: 1 });
      // Started together, so ten passes are taken before any ends: they wait for the one slot
      // (or their steps go to the step queue), and the eleventh run goes through the queue.
      const runs = await Promise.all(
        Array.from({ length: 11 }, (_, index) => harness.client.start(heldRun, `run-${index}`)),
      );
      release.open();
      for (const [index, run] of runs.entries()) expect(await run.result()).toBe(`run-${index}`);
      // Per run, since a creation whose stamp is refused under load is sent again.
      const creations = harness.world.calls.filter((call) => call.eventTypes[0] === 'run_created');
      const claimedFor = (runId: string) =>
        creations.filter((call) => call.runId === runId).map((call) => call.claimed);
      const claimed = runs.filter((run) => claimedFor(run.id).includes(1));
      expect(claimed, 'ten runs had their first pass claimed').toHaveLength(10);
      const unclaimed = runs.filter((run) => !claimed.includes(run));
      expect(unclaimed).toHaveLength(1);
      const last = unclaimed[0]!;
      expect(claimedFor(last.id).every((value) => value === 0)).toBe(true);
      expect(claimedFor(last.id).length).toBeGreaterThan(0);
      await eventually(
        async () => (wakesDelivered(last.id).length > 0 ? true : undefined),
        5000,
        'the consumer to settle the eleventh run’s wake',
      );
      expect(wakesDelivered(last.id).map((delivery) => delivery.attempt)).toContain(1);
    });
  });
}
