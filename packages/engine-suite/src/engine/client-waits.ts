import {
  createClient,
  createHook,
  HookNotFoundError,
  HookWaitTimeoutError,
  InvalidInputError,
  RunIdConflictError,
  RunResultTimeoutError,
  step,
  workflow,
} from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EngineSuiteOptions, gate, type Harness, openHarness } from '../harness.js';
import { expectInOneOfThreeAttempts } from './stall-tolerant.js';

const gates = new Map<string, { started: ReturnType<typeof gate>; release: ReturnType<typeof gate> }>();
const gateFor = (key: string) => {
  if (!gates.has(key)) gates.set(key, { started: gate(), release: gate() });
  return gates.get(key)!;
};
const held = step('client-waits.held', async (key: string) => {
  gateFor(key).started.open();
  await gateFor(key).release.promise;
  return key;
});

/** Reaches its hook only after `held` is released, so a resume sent right after start finds no hook yet. */
const approval = workflow('client-waits.approval', async (key: string) => {
  await held(key);
  const hook = createHook<{ ok: boolean }>({ token: `approve:${key}` });
  return { verdict: await hook };
});
const parked = workflow('client-waits.parked', async (token: string) => createHook({ token }));
const echo = workflow('client-waits.echo', async (input: unknown) => input);

const key = () => `k${Math.random().toString(36).slice(2)}`;
const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

export function describeClientWaits(options: EngineSuiteOptions): void {
  describe(`${options.name}: client waits`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await harness.close();
    });

    it('resumeHook right after start waits for the hook and delivers once the workflow creates it', async () => {
      const k = key();
      await harness.startWorker({ workflows: [approval] });
      const run = await harness.client.start(approval, k);
      // The hook cannot exist yet: the workflow is held in the step before it.
      const resumed = harness.client.resumeHook(`approve:${k}`, { ok: true });
      await gateFor(k).started.promise;
      gateFor(k).release.open();
      expect(await resumed).toEqual({ runId: run.id, hookId: expect.any(String) });
      expect(await run.result({ timeoutMs: 20_000 })).toEqual({ verdict: { ok: true } });
    });

    it('waitForHook resolves with the hook once a run creates it, without delivering anything', async () => {
      const k = key();
      await harness.startWorker({ workflows: [approval] });
      const run = await harness.client.start(approval, k);
      const waiting = harness.client.waitForHook(`approve:${k}`);
      gateFor(k).release.open();
      const hook = await waiting;
      expect(hook).toMatchObject({ runId: run.id, token: `approve:${k}`, status: 'active', receivedCount: 0 });
      await harness.client.resumeHook(`approve:${k}`, { ok: false }, { timeoutMs: 0 });
      expect(await run.result({ timeoutMs: 20_000 })).toEqual({ verdict: { ok: false } });
    });

    it('gives up with HookWaitTimeoutError naming the token and the wait, delivering nothing', async () => {
      const token = `nobody:${key()}`;
      for (const call of [
        () => harness.client.resumeHook(token, 1, { timeoutMs: 60 }),
        () => harness.client.waitForHook(token, { timeoutMs: 60 }),
      ]) {
        const started = Date.now();
        const error = await rejection(call());
        expect(HookWaitTimeoutError.is(error)).toBe(true);
        expect((error as HookWaitTimeoutError).code).toBe('HOOK_WAIT_TIMEOUT');
        expect((error as HookWaitTimeoutError).token).toBe(token);
        expect((error as HookWaitTimeoutError).timeoutMs).toBe(60);
        expect((error as Error).message).toContain(JSON.stringify(token));
        expect((error as Error).message).toContain('60 ms');
        expect(Date.now() - started).toBeGreaterThanOrEqual(55);
      }
      // timeoutMs 0 looks once; the error is a HookNotFoundError too, for code written before waits.
      const once = await rejection(harness.client.resumeHook(token, 1, { timeoutMs: 0 }));
      expect(HookWaitTimeoutError.is(once)).toBe(true);
      expect(HookNotFoundError.is(once)).toBe(true);
    });

    it('stops waiting when the signal aborts, and refuses a bad timeout with InvalidInputError', async () => {
      const controller = new AbortController();
      const waiting = rejection(harness.client.waitForHook(`nobody:${key()}`, { signal: controller.signal }));
      controller.abort(new Error('caller gave up'));
      expect(((await waiting) as Error).message).toBe('caller gave up');
      for (const bad of [-1, 1.5, Number.NaN, '10']) {
        const error = await rejection(harness.client.resumeHook('t', 1, { timeoutMs: bad as number }));
        expect(InvalidInputError.is(error)).toBe(true);
        expect((error as InvalidInputError).field).toBe('options.timeoutMs');
      }
    });

    it('result({ timeoutMs }) rejects with RunResultTimeoutError saying where the run is, and the run goes on', async () => {
      const token = `parked:${key()}`;
      // No worker has the workflow yet: the run stays pending, and the error says so.
      const pending = await harness.client.start(parked, token);
      const first = await rejection(pending.result({ timeoutMs: 50 }));
      expect(RunResultTimeoutError.is(first)).toBe(true);
      expect(first).toMatchObject({ code: 'RUN_RESULT_TIMEOUT', runId: pending.id, timeoutMs: 50, status: 'pending' });
      expect((first as Error).message).toContain('"client-waits.parked"');
      await harness.startWorker({ workflows: [parked] });
      await harness.client.waitForHook(token, { timeoutMs: 20_000 });
      const second = await rejection(pending.result({ timeoutMs: 50 }));
      expect(second).toMatchObject({ status: 'running' });
      await harness.client.resumeHook(token, 'done');
      expect(await pending.result({ timeoutMs: 20_000 })).toBe('done');
    });

    it('an existing id with a different input returns the existing run by default, or is RunIdConflictError when asked', async () => {
      await harness.startWorker({ workflows: [echo] });
      const id = `echo-${key()}`;
      const first = await harness.client.start(echo, { a: 1, b: [1, 2] }, { id });
      expect(await first.result({ timeoutMs: 20_000 })).toEqual({ a: 1, b: [1, 2] });
      // Default: the start is idempotent and the new input is ignored.
      const again = await harness.client.start(echo, { a: 2 }, { id });
      expect(await again.result()).toEqual({ a: 1, b: [1, 2] });
      // Opted in: a different input is an error; the same input (in any key order) is a retry.
      const error = await rejection(
        harness.client.start(echo, { a: 2 }, { id, onConflict: 'error-on-different-input' }),
      );
      expect(RunIdConflictError.is(error)).toBe(true);
      expect(error).toMatchObject({ code: 'RUN_ID_CONFLICT', runId: id, workflowName: 'client-waits.echo' });
      const retried = await harness.client.start(
        echo,
        { b: [1, 2], a: 1 },
        { id, onConflict: 'error-on-different-input' },
      );
      expect(retried.id).toBe(id);
      // The same, chosen once for the whole client.
      const strict = createClient({ world: harness.world, onConflict: 'error-on-different-input' });
      expect(RunIdConflictError.is(await rejection(strict.start(echo, { a: 3 }, { id })))).toBe(true);
      expect(
        InvalidInputError.is(await rejection(harness.client.start(echo, 1, { onConflict: 'nope' as never }))),
      ).toBe(true);
    });

    it("stamps a start and a hook delivery from a worker's reading of the World's clock in the same process", async () => {
      await harness.startWorker({ workflows: [echo, parked] });
      // The first run teaches the worker the World's clock.
      expect(await (await harness.client.start(echo, 'first')).result()).toBe('first');
      // A stall can cost a stamp (see `expectInOneOfThreeAttempts`), and a run that takes
      // longer than the reading's renewal age sends the next creation unstamped on purpose,
      // to renew it. Either costs an append, never a wrong result.
      await expectInOneOfThreeAttempts('a start and a hook delivery both stamped', async (attempt) => {
        const token = `stamp:${key()}`;
        const run = await harness.client.start(parked, token);
        await harness.client.resumeHook(token, { n: attempt });
        expect(await run.result()).toEqual({ n: attempt });
        // A stamped append can be written without reading the World's clock first.
        const clientAppends = harness.world.calls.filter(
          (call) =>
            call.runId === run.id && (call.eventTypes[0] === 'run_created' || call.eventTypes[0] === 'hook_received'),
        );
        const refused = clientAppends.filter((call) => !call.committed);
        expect(
          refused.every((call) => call.stamped),
          'only a stamped append may be refused',
        ).toBe(true);
        // Each append was committed once, whatever was refused on the way.
        const committed = clientAppends.filter((call) => call.committed);
        expect(committed.map((call) => call.eventTypes[0])).toEqual(['run_created', 'hook_received']);
        if (refused.length === 0 && committed.every((call) => call.stamped)) return true;
        return JSON.stringify(clientAppends.map((call) => [call.eventTypes[0], call.stamped, call.committed]));
      });
    });

    it("stamps the first pass of a slow World's first run far enough ahead, learning from the start", async () => {
      // Every append takes 150 ms to reach the World, from the first one on.
      harness.world.beforeAppend = () => new Promise((resolve) => setTimeout(resolve, 150));
      await harness.startWorker({ workflows: [echo] });
      const run = await harness.client.start(echo, 'slow');
      expect(await run.result()).toBe('slow');
      // The start went unstamped (the worker had not seen the World's clock yet); how long it
      // took tells how far ahead the pass must stamp, so no stamp was refused and the pass
      // never had to read back the log its client wrote.
      expect(harness.world.reads.filter((read) => read.runId === run.id && read.method === 'events.list')).toEqual([]);
      const passAppends = harness.world.calls.filter((call) => call.runId === run.id && call.method === 'createBatch');
      expect(passAppends.every((call) => call.stamped)).toBe(true);
    });

    it('sends a start again unstamped when the World refuses its stamp as past, and creates the run once', async () => {
      await harness.startWorker({ workflows: [echo] });
      expect(await (await harness.client.start(echo, 'first')).result()).toBe('first');
      // The next start is slow to reach the World: its stamp is in the World's past by then.
      let delayed = false;
      harness.world.beforeAppend = async (call) => {
        if (!delayed && call.eventTypes[0] === 'run_created' && call.stamped) {
          delayed = true;
          await new Promise((resolve) => setTimeout(resolve, 1500));
        }
      };
      const run = await harness.client.start(echo, 'second');
      expect(await run.result()).toBe('second');
      const creations = harness.world.calls.filter(
        (call) => call.runId === run.id && call.eventTypes[0] === 'run_created',
      );
      expect(creations.map((call) => call.stamped)).toEqual([true, false]);
      expect(
        (await harness.client.getRun(run.id).then((handle) => handle.events())).filter(
          (event) => event.eventType === 'run_created',
        ),
      ).toHaveLength(1);
    });
  });
}
