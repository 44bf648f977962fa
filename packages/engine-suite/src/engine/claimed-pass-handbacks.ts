import { type World, WorldUnavailableError } from '@cairn/core/world';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EngineSuiteOptions, eventually, type Harness } from '../harness.js';
import { awaitsHook, chain, openClaimsHarness, wakesDelivered as wakesDeliveredOf } from './claims-harness.js';

/** What a World reports when the connection drops, here after the append committed. */
const lostAnswer = (world: World) =>
  new WorldUnavailableError({ world: world.name, location: 'test', reason: 'the connection dropped after the commit' });

/**
 * Passes taken without the queue that cannot finish where they were taken: the answer of
 * the append that claimed them was lost, their settlement fails, their worker stops, or the
 * pass itself fails. Each claim goes back to the queue, so the run is finished elsewhere
 * without waiting out its lease, and nothing runs twice. Only where the World has claims.
 */
export function describeClaimedPassHandbacks(options: EngineSuiteOptions): void {
  describe(`${options.name} engine: claimed passes handed back`, () => {
    let harness: Harness;
    beforeEach(async (context) => {
      harness = await openClaimsHarness(options, context);
    });
    afterEach(async () => {
      await harness?.close();
    });

    const wakesDelivered = (runId: string) => wakesDeliveredOf(harness, runId);

    /**
     * The claim went back to the queue with `retryAfterMs`, and a consumer (`who`, as a
     * failure names it) then took the run's wake as its second delivery and acknowledged it.
     */
    async function expectHandedBackAndRedelivered(runId: string, retryAfterMs: number, who: string) {
      expect(harness.world.claimCalls).toContainEqual({ method: 'settleClaim', outcome: { retryAfterMs }, held: true });
      const delivered = await eventually(
        async () => (wakesDelivered(runId).length > 0 ? wakesDelivered(runId) : undefined),
        5000,
        `${who} to settle the handed-back wake`,
      );
      expect(
        delivered.map((delivery) => [delivery.attempt, delivery.outcome]),
        `${who} ran the pass, on the handed-back wake as its second delivery`,
      ).toEqual([[2, 'acknowledged']]);
    }

    it('hands back the claim of a start whose answer was lost after it committed, so the run need not wait out its lease', async () => {
      await harness.startWorker({ workflows: [chain], orchestrationLeaseMs: 120_000 });
      // A first run teaches the worker the World's clock, so the start below creates the run
      // with its first pass and a claimed wake.
      expect(await (await harness.client.start(chain, 1)).result()).toBe(1);
      const id = `lost-start-${Math.random().toString(36).slice(2)}`;
      let lost = false;
      harness.world.afterAppend = async (call) => {
        if (lost || call.runId !== id || call.eventTypes[0] !== 'run_created') return;
        lost = true;
        throw lostAnswer(harness.world);
      };
      const failure = await harness.client.start(chain, 2, { id }).then(
        () => undefined,
        (error: unknown) => error,
      );
      harness.world.afterAppend = undefined;
      expect(WorldUnavailableError.is(failure), String(failure)).toBe(true);
      const creation = harness.world.calls.find((call) => call.runId === id);
      expect(creation, 'the lost creation carried a claimed wake').toMatchObject({ claimed: 1 });
      // The caller starts again under the same id, as after any outage: the run exists.
      const run = await harness.client.start(chain, 2, { id });
      expect(await run.result({ timeoutMs: 15_000 })).toBe(2);
      expect(harness.world.claimCalls).toContainEqual({
        method: 'settleClaim',
        outcome: { retryAfterMs: 0 },
        held: true,
      });
    });

    it('hands back the claim of a hook delivery whose answer was lost, so the run need not wait out its lease', async () => {
      await harness.startWorker({ workflows: [awaitsHook], orchestrationLeaseMs: 120_000 });
      const token = `lost-delivery:${Math.random().toString(36).slice(2)}`;
      const run = await harness.client.start(awaitsHook, token);
      await harness.client.waitForHook(token);
      await eventually(
        async () => harness.world.claimCalls.find((call) => call.method === 'settleClaim'),
        5000,
        'the suspended first pass to settle its claim',
      );
      let lost = false;
      harness.world.afterAppend = async (call) => {
        if (lost || !call.eventTypes.includes('hook_received')) return;
        expect(call.claimed, 'the delivery queued its wake claimed').toBe(1);
        lost = true;
        throw lostAnswer(harness.world);
      };
      // The delivery finds its own event in the log and resolves.
      await harness.client.resumeHook(token, 'four');
      harness.world.afterAppend = undefined;
      expect(lost).toBe(true);
      expect(await run.result({ timeoutMs: 15_000 })).toBe(5);
    });

    it('keeps trying a failed settlement while the claim lasts, not just twice', async () => {
      const settleClaim = harness.world.queue.settleClaim!;
      let refusals = 5;
      harness.world.queue.settleClaim = async (claim, outcome) => {
        if (refusals-- > 0) throw new Error('injected: the World is unreachable for a while');
        return settleClaim(claim, outcome);
      };
      await harness.startWorker({ workflows: [awaitsHook] });
      const token = `claimed-outage:${Math.random().toString(36).slice(2)}`;
      const run = await harness.client.start(awaitsHook, token);
      await harness.client.waitForHook(token);
      await eventually(
        async () => (harness.world.claimCalls.some((call) => call.method === 'settleClaim') ? true : undefined),
        10_000,
        'the suspended pass to settle its claim once the World answers again',
      );
      expect(refusals).toBeLessThan(0);
      await harness.client.resumeHook(token, 'seven!!');
      expect(await run.result({ timeoutMs: 5000 })).toBe(8);
    });

    it('hands a claim that reaches a stopped worker back to the queue at once, running nothing', async () => {
      await harness.startWorker({ workflows: [awaitsHook] });
      // Started last, so it is the one whose passes clients here use.
      const stopping = await harness.startWorker({ workflows: [awaitsHook] });
      const token = `claimed-stop:${Math.random().toString(36).slice(2)}`;
      const run = await harness.client.start(awaitsHook, token);
      await harness.client.waitForHook(token);
      await eventually(
        async () => (harness.world.claimCalls.some((call) => call.method === 'settleClaim') ? true : undefined),
        5000,
        'the first pass to settle its claim',
      );
      harness.world.beforeAppend = async (call) => {
        // The delivery asked for a claim for the stopping worker, which stops before it lands.
        if (call.eventTypes.includes('hook_received')) await stopping.stop();
      };
      await harness.client.resumeHook(token, 'four');
      expect(await run.result({ timeoutMs: 5000 })).toBe(5);
      await expectHandedBackAndRedelivered(run.id, 0, 'the other worker');
    });

    it('hands a step it placed but did not start to another worker when it stops mid-pass', async () => {
      // The other worker starts first, so the claimed pass is the stopping worker's.
      await harness.startWorker({ workflows: [chain] });
      const stopping = await harness.startWorker({ workflows: [chain] });
      let stopped: Promise<void> | undefined;
      harness.world.beforeAppend = async (call) => {
        // Stop begins while the pass commits its first step, which it then must not start.
        if (stopped === undefined && call.eventTypes.includes('step_created')) stopped = stopping.stop();
      };
      const run = await harness.client.start(chain, 2);
      expect(await run.result({ timeoutMs: 5000 })).toBe(2);
      await stopped;
      // The run ends inside the other worker's handler, which settles just after.
      await eventually(
        async () => (wakesDelivered(run.id).length > 0 ? true : undefined),
        5000,
        'the other worker to settle the wake the stopping pass sent',
      );
    });

    it('hands a failed claimed pass back to the queue, where a consumer finishes the run', async () => {
      let failures = 0;
      harness.world.beforeAppend = async (call) => {
        if (call.eventTypes[0] === 'run_started' && failures === 0) {
          failures += 1;
          throw new Error('injected: the first commit of the claimed pass fails');
        }
      };
      await harness.startWorker({ workflows: [chain] });
      const run = await harness.client.start(chain, 2);
      expect(await run.result()).toBe(2);
      expect(failures).toBe(1);
      // The run ends inside the consumer's handler, which settles just after.
      await expectHandedBackAndRedelivered(run.id, 100, 'the consumer');
    });
  });
}
