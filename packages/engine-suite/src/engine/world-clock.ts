import { sleep, step, workflow } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allEvents, type EngineSuiteOptions, type Harness, openHarness } from '../harness.js';
import { expectInOneOfThreeAttempts } from './stall-tolerant.js';

// How the engine reads the World's clock and stamps appends from that reading, with the
// worker's own clock skewed against the World's, jumping, or the World slow to answer.

const skewedSleep = workflow('world-clock.skewed-sleep', async (ms: number) => {
  await sleep(ms);
  return 'woke';
});
const skewedSteps = step('world-clock.skewed-step', async (index: number) => index);
const burstStep = step('world-clock.burst-step', async (index: number) => index);
const burstRun = workflow('world-clock.burst-run', async (index: number) => burstStep(index));
const manySteps = workflow('world-clock.many-steps', async (count: number) => {
  let sum = 0;
  for (let index = 0; index < count; index++) sum += await skewedSteps(index);
  return sum;
});

export function describeWorldClock(options: EngineSuiteOptions): void {
  describe(`${options.name}: the World's clock`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await harness.close();
    });

    it('ends a sleep on time when the worker clock runs behind the World', async () => {
      // Two workers, one 2 s behind: whichever handles the timer must judge it on World time.
      await harness.startWorker({ workflows: [skewedSleep], clock: () => Date.now() - 2000 });
      await harness.startWorker({ workflows: [skewedSleep] });
      const started = Date.now();
      const run = await harness.client.start(skewedSleep, 300);
      expect(await run.result()).toBe('woke');
      expect(Date.now() - started).toBeLessThan(1800);
      const events = await allEvents(harness.world, run.id);
      const created = events.find((event) => event.eventType === 'wait_created')!;
      const completed = events.find((event) => event.eventType === 'wait_completed')!;
      expect(completed.createdAt).toBeGreaterThanOrEqual((created.eventData as { resumeAt: number }).resumeAt);
    });

    it('keeps one durable write per step when the worker clock is far behind the World', async () => {
      await harness.startWorker({ workflows: [manySteps], clock: () => Date.now() - 1500 });
      // Refused speculative batches would each add a lone completion write; a stall can cost a
      // stamp or two (see `expectInOneOfThreeAttempts`), so the shape is looked for in a run
      // that no stall touched.
      await expectInOneOfThreeAttempts('at most 32 completion writes for 30 steps', async () => {
        const run = await harness.client.start(manySteps, 30);
        expect(await run.result()).toBe(435);
        const completionWrites = harness.world.calls.filter(
          (call) => call.runId === run.id && call.eventTypes.includes('step_completed'),
        );
        return completionWrites.length <= 32 || `${completionWrites.length} completion writes`;
      });
    });

    it('stamps a burst of appends far enough ahead for the ones queued behind the others', async () => {
      // A World that starts one append every 4 ms, as a database with a busy connection
      // pool does: an append sent behind forty others commits about 160 ms after it was
      // stamped, far past a margin learned from appends sent one at a time.
      let turn = Promise.resolve();
      harness.world.beforeAppend = () => {
        const mine = turn.then(() => new Promise<void>((resolve) => setTimeout(resolve, 4)));
        turn = mine;
        return mine;
      };
      await harness.startWorker({ workflows: [burstRun], concurrency: 50 });
      // Runs one at a time first, so the engine has a fresh reading of the World's clock
      // and a margin fitted to an append that waits for nobody.
      for (let index = 0; index < 5; index++) await (await harness.client.start(burstRun, index)).result();
      // A margin that ignored the queue had almost every stamp of the burst refused. One that
      // allows for it can still lose a few to a stall (see `expectInOneOfThreeAttempts`), so
      // the shape is looked for in a burst that no stall touched.
      await expectInOneOfThreeAttempts('a burst with most appends stamped and at most 3 refused', async () => {
        const before = harness.world.calls.length;
        const runs = await Promise.all(Array.from({ length: 60 }, (_, index) => harness.client.start(burstRun, index)));
        expect(await Promise.all(runs.map((run) => run.result()))).toEqual(
          Array.from({ length: 60 }, (_, index) => index),
        );
        const burst = harness.world.calls.slice(before);
        const stamped = burst.filter((call) => call.stamped).length;
        // A single worker holding each run's lease loses no fence, so a stamped append that
        // did not commit was refused for its stamp having fallen into the World's past.
        const refused = burst.filter((call) => call.stamped && !call.committed).length;
        if (stamped > burst.length / 2 && refused <= 3) return true;
        return `${stamped} of ${burst.length} appends stamped, ${refused} refused`;
      });
    });

    it('renews a stale reading of the World clock with one unstamped creation, and stamps the rest of a burst from it', async () => {
      let skewMs = 0;
      await harness.startWorker({ workflows: [burstRun], concurrency: 20, clock: () => Date.now() + skewMs });
      for (let index = 0; index < 3; index++) await (await harness.client.start(burstRun, index)).result();
      await expectInOneOfThreeAttempts('a renewed burst with at most 3 stamps refused', async (attempt) => {
        // The worker's clock jumps six seconds ahead: its reading of the World's clock is
        // stale (and wrong by as much) until the World stamps an append again.
        skewMs = 6000 * attempt;
        const before = harness.world.calls.length;
        const startedAt = Date.now();
        const runs = await Promise.all(Array.from({ length: 20 }, (_, index) => harness.client.start(burstRun, index)));
        expect(await Promise.all(runs.map((run) => run.result()))).toEqual(
          Array.from({ length: 20 }, (_, index) => index),
        );
        const burst = harness.world.calls.slice(before);
        const unstamped = burst.filter((call) => !call.stamped);
        // Each append of the burst, whether stamped, whether committed.
        const shown = burst
          .map((call) => `${call.eventTypes[0]}${call.stamped ? ' stamped' : ''}${call.committed ? '' : ' refused'}`)
          .join(', ');
        // The first append of the burst renews the reading, unstamped; the rest are stamped from it.
        expect(unstamped[0]?.eventTypes[0], shown).toBe('run_created');
        // A stamp the World refuses is followed by unstamped appends: the refused write made
        // again (a creation, or a batch's outcomes as facts) and, since the reading is then
        // distrusted, the creation that renews it. Nothing else goes unstamped.
        const refused = burst.filter((call) => call.stamped && !call.committed);
        expect(unstamped.length - 1, shown).toBeLessThanOrEqual(2 * refused.length);
        // Every stamp came from the renewed reading: within the margin's ceiling of the World's time.
        for (const run of runs) {
          const { createdAt } = await harness.world.inner.runs.get(run.id);
          expect(createdAt).toBeGreaterThanOrEqual(startedAt - 50);
          expect(createdAt).toBeLessThan(Date.now() + 1500);
        }
        // A stall can push a few stamps into the World's past (see `expectInOneOfThreeAttempts`).
        return refused.length <= 3 || shown;
      });
    });

    it('renews a reading before it goes stale, so a clock that jumped is corrected within seconds', async () => {
      let skewMs = 0;
      await harness.startWorker({ workflows: [burstRun], clock: () => Date.now() + skewMs });
      for (let index = 0; index < 3; index++) await (await harness.client.start(burstRun, index)).result();
      // Three seconds ahead: the reading is not stale yet, but old enough to be renewed.
      skewMs = 3000;
      const before = harness.world.calls.length;
      await (await harness.client.start(burstRun, 1)).result();
      expect(harness.world.calls.slice(before).find((call) => call.eventTypes[0] === 'run_created')?.stamped).toBe(
        false,
      );
      const run = await harness.client.start(burstRun, 2);
      await run.result();
      const { createdAt } = await harness.world.inner.runs.get(run.id);
      expect(createdAt).toBeLessThan(Date.now() + 1500);
    });
  });
}
