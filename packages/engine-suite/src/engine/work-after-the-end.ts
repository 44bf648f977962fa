import {
  createClient,
  createHook,
  createWorker,
  getWritable,
  startChild,
  step,
  type Worker,
  workflow,
} from '@cairn/core';
import { type QueueConsumer, type World, WorldUnavailableError } from '@cairn/core/world';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EngineSuiteOptions, eventually, gate, type Harness, openHarness } from '../harness.js';

const greet = step('after-end.greet', async (name: string) => `hello ${name}`);
/** Writes to a stream and leaves it open: the run's end is what closes it. */
const tell = step('after-end.tell', async (line: string) => {
  const writer = getWritable().getWriter();
  await writer.write(line);
  writer.releaseLock();
  return line.length;
});

const child = workflow('after-end.child', async (name: string) => greet(name));
const parent = workflow('after-end.parent', async (name: string) => `parent got: ${await startChild(child, name)}`);
const teller = workflow('after-end.teller', async (line: string) => tell(line));
const waitingChild = workflow('after-end.waiting-child', async (token: string) => createHook({ token }));
const parentOfWaiters = workflow('after-end.parent-of-waiters', async (prefix: string) =>
  Promise.all([startChild(waitingChild, `${prefix}:a`), startChild(waitingChild, `${prefix}:b`)]),
);

/**
 * A World as one process sees it, until the process dies: from `die()` on, every call
 * (and every renewal of a delivery's lease) waits forever, as if the process had frozen.
 * `bury()` then rejects them all, so the dead worker's `stop()` can return at the end.
 *
 * `standby` is the same World for a second worker that takes no deliveries until the first
 * has died. It is started before anything runs, so its start (which wakes every unfinished
 * run it finds) finds nothing: what it does later, it does because a wake reached it.
 */
function mortalWorld(inner: World) {
  let dead = false;
  const death = gate();
  const burial = gate();
  const afterDeath = async (): Promise<never> => {
    await burial.promise;
    throw new WorldUnavailableError({ world: inner.name, location: 'test', reason: 'this process has died' });
  };
  // A copy rather than a Proxy: some Worlds freeze their parts, and a Proxy of a frozen
  // object must hand out its very functions.
  const guard = <Target extends object>(target: Target): Target => {
    const copy: Record<string | symbol, unknown> = {};
    for (let layer: object | null = target; layer !== null && layer !== Object.prototype; ) {
      for (const key of Reflect.ownKeys(layer)) {
        if (key === 'constructor' || key in copy) continue;
        const value: unknown = Reflect.get(target, key);
        copy[key] =
          typeof value === 'function'
            ? (...args: unknown[]) => (dead ? afterDeath() : value.apply(target, args))
            : value;
      }
      layer = Object.getPrototypeOf(layer);
    }
    return copy as Target;
  };
  const world: World = {
    ...inner,
    events: guard(inner.events),
    runs: guard(inner.runs),
    steps: guard(inner.steps),
    hooks: guard(inner.hooks),
    waits: guard(inner.waits),
    streams: guard(inner.streams),
    queue: guard({
      ...inner.queue,
      consume: (topic, handler, options) =>
        inner.queue.consume(topic, (message, delivery) => handler(message, guard(delivery)), options),
    }),
    close: () => inner.close(),
  };
  const standby: World = {
    ...inner,
    queue: {
      ...inner.queue,
      consume: (topic, handler, options) => {
        let stopped = false;
        let consumer: QueueConsumer | undefined;
        void death.promise.then(() => {
          if (!stopped) consumer = inner.queue.consume(topic, handler, options);
        });
        return {
          stop: async () => {
            stopped = true;
            await consumer?.stop();
          },
        };
      },
    },
  };
  return {
    world,
    standby,
    die: () => {
      dead = true;
      death.open();
    },
    dead: () => dead,
    afterDeath,
    bury: burial.open,
  };
}

/**
 * What a run leaves to do after the append that ends it (telling its parent, closing the
 * streams a World does not close with the run) is not lost when the worker dies right
 * after that append: its wake is not settled until that work is done, so another worker
 * takes it up once the dead one's lease lapses.
 */
export function describeWorkAfterTheEnd(options: EngineSuiteOptions): void {
  describe(`${options.name}: work after a run's end outlives its worker`, () => {
    let harness: Harness;
    let mortal: ReturnType<typeof mortalWorld>;
    let doomed: Worker | undefined;
    beforeEach(async () => {
      harness = await openHarness(options);
      mortal = mortalWorld(harness.world);
    });
    afterEach(async () => {
      const stopping = doomed?.stop();
      mortal.bury();
      await stopping?.catch(() => {});
      doomed = undefined;
      await harness.close();
    });

    /**
     * Starts a standby worker, then the worker that dies once an append ending a run whose
     * id matches `runIdPattern` has committed.
     */
    async function startWorkers(workflows: Parameters<typeof createWorker>[0]['workflows'], runIdPattern: RegExp) {
      const standby = createWorker({ world: mortal.standby, workflows, orchestrationLeaseMs: 400 });
      await standby.start();
      harness.workers.push(standby);
      harness.world.afterAppend = async (call) => {
        if (mortal.dead() || call.runId === null || !runIdPattern.test(call.runId)) return;
        if (!call.eventTypes.some((type) => type === 'run_completed')) return;
        mortal.die();
        // The answer never reaches the dead process.
        await mortal.afterDeath();
      };
      doomed = createWorker({ world: mortal.world, workflows, orchestrationLeaseMs: 400 });
      await doomed.start();
    }

    /** Waits for the death, and stops the dead worker taking deliveries, as a dead process would. */
    async function awaitDeath(what: string) {
      await eventually(async () => (mortal.dead() ? true : undefined), 10_000, what);
      void doomed!.stop();
    }

    it("tells the parent of a child whose worker died right after the child's last append", async () => {
      await startWorkers([parent, child], /~child:/);
      const run = await harness.client.start(parent, 'ada');
      await awaitDeath("the child's last append");
      expect(await run.result({ signal: AbortSignal.timeout(15_000) })).toBe('parent got: hello ada');
    });

    it('ends the reads of a stream left open when the worker died right after the run’s last append', async () => {
      await startWorkers([teller], /^after-end-teller-/);
      const run = await harness.client.start(teller, 'once', {
        id: `after-end-teller-${Math.random().toString(36).slice(2)}`,
      });
      await awaitDeath("the run's last append");
      expect(await run.result({ signal: AbortSignal.timeout(15_000) })).toBe(4);
      const chunks: unknown[] = [];
      const reading = (async () => {
        for await (const chunk of run.readable()) chunks.push(chunk);
      })();
      await Promise.race([
        reading,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error('the stream was never closed: its read did not end')), 15_000),
        ),
      ]);
      expect(chunks).toEqual(['once']);
    });

    it('cancels the children of a run whose canceller died right after the cancel', async () => {
      const workflows = [parentOfWaiters, waitingChild];
      await harness.startWorker({ workflows });
      const prefix = `after-end-${Math.random().toString(36).slice(2)}`;
      const run = await harness.client.start(parentOfWaiters, prefix);
      for (const token of [`${prefix}:a`, `${prefix}:b`])
        await eventually(() => harness.world.hooks.getByToken(token).catch(() => undefined), 10_000, `hook ${token}`);
      // The cancelling process dies once the parent's cancel has committed, before it has
      // cancelled a single child; the worker lives on.
      harness.world.afterAppend = async (call) => {
        if (mortal.dead() || call.runId !== run.id || !call.eventTypes.includes('run_cancelled')) return;
        mortal.die();
        await mortal.afterDeath();
      };
      const cancelling = createClient({ world: mortal.world }).cancel(run.id, 'order withdrawn');
      cancelling.catch(() => {});
      await eventually(async () => (mortal.dead() ? true : undefined), 10_000, "the parent's cancel");
      expect(await run.status()).toBe('cancelled');
      for (const index of [0, 1]) {
        const childId = `${run.id}~child:after-end.waiting-child#${index}`;
        await eventually(
          async () => ((await harness.world.runs.get(childId)).status === 'cancelled' ? true : undefined),
          15_000,
          `child ${index} to be cancelled`,
        );
        expect((await harness.world.runs.get(childId)).cancelReason).toContain(run.id);
      }
    });

    it('wakes a cancelled parent once, not again for each child that ends after it', async () => {
      await harness.startWorker({ workflows: [parentOfWaiters, waitingChild] });
      const prefix = `after-end-${Math.random().toString(36).slice(2)}`;
      const run = await harness.client.start(parentOfWaiters, prefix);
      for (const token of [`${prefix}:a`, `${prefix}:b`])
        await eventually(() => harness.world.hooks.getByToken(token).catch(() => undefined), 10_000, `hook ${token}`);
      const children = [0, 1].map((index) => `${run.id}~child:after-end.waiting-child#${index}`);
      const wakesOf = (runId: string) =>
        harness.world.sends.filter((send) => (send.payload as { runId?: string }).runId === runId).length;
      const passesOf = (runId: string) =>
        harness.world.deliveries.filter((delivery) => (delivery.payload as { runId?: string }).runId === runId).length;
      const parentWakesBefore = wakesOf(run.id);
      const childPassesBefore = children.map(passesOf);
      await harness.client.cancel(run.id, 'order withdrawn');
      // Each child's cancel wakes it, and its pass reports to the parent, which has ended.
      for (const [index, child] of children.entries())
        await eventually(
          async () => (passesOf(child) > childPassesBefore[index]! ? true : undefined),
          10_000,
          `a pass of cancelled child ${index}`,
        );
      // The parent's own cancel wakes it; a child's refused report must not wake it again,
      // or every child that ends would walk the parent's children once more.
      expect(wakesOf(run.id) - parentWakesBefore).toBe(1);
    });
  });
}
