import { createHook, HookWaitTimeoutError, InvalidInputError, workflow } from '@cairn/core';
import {
  type CreateEventParams,
  type CreateEventRequest,
  DuplicateDeliveryError,
  type World,
  WorldUnavailableError,
} from '@cairn/core/world';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { allEvents, type EngineSuiteOptions, eventually, type Harness, openHarness } from '../harness.js';

/** Collects the payloads sent to `signal:<key>` until something is sent to `done:<key>`. */
const collect = workflow('hook-delivery.collect', async (key: string) => {
  const signals = createHook<string>({ token: `signal:${key}` })[Symbol.asyncIterator]();
  const ended = createHook<null>({ token: `done:${key}` }).then(() => undefined);
  const received: string[] = [];
  for (;;) {
    // Each event is reacted to before the next is fed, so every payload logged before the
    // end wins its race; only the last next() is left pending.
    const next = await Promise.race([signals.next(), ended]);
    if (next === undefined) return received;
    received.push(next.value);
  }
});

/** Takes one payload on a hook, disposes it, and collects the rest on a new hook with the same token. */
const relay = workflow('hook-delivery.relay', async (key: string) => {
  const first = createHook<string>({ token: `relay:${key}` });
  const received = [await first];
  first.dispose();
  const second = createHook<string>({ token: `relay:${key}` })[Symbol.asyncIterator]();
  const ended = createHook<null>({ token: `done:${key}` }).then(() => undefined);
  for (;;) {
    const next = await Promise.race([second.next(), ended]);
    if (next === undefined) return received;
    received.push(next.value);
  }
});

const key = () => `k${Math.random().toString(36).slice(2)}`;
const unavailable = (world: World) =>
  new WorldUnavailableError({ world: world.name, location: 'test', reason: 'the connection dropped' });
const rejection = (promise: Promise<unknown>) =>
  promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );

/**
 * How a delivery learns whether an attempt in doubt landed: by the World's refusal of a
 * delivery id its run holds, or by reading the run's log (what the engine does on a World
 * without `uniqueDeliveryIds`; here the client is shown the World without it).
 */
const paths = ['unique ids', 'reading the log'] as const;

export function describeHookDelivery(options: EngineSuiteOptions): void {
  for (const path of paths) describeDeliveryPath(options, path);
}

function describeDeliveryPath(options: EngineSuiteOptions, path: (typeof paths)[number]): void {
  describe(`${options.name}: a hook delivery is written once (${path})`, () => {
    let harness: Harness;
    /** Whether the World itself refuses a repeated delivery id, whichever path the client takes. */
    let worldRefusesRepeats = false;
    beforeEach(async (context) => {
      harness = await openHarness(options);
      worldRefusesRepeats = harness.world.capabilities.uniqueDeliveryIds === true;
      if (path === 'unique ids' && !worldRefusesRepeats) {
        context.skip('this World does not keep delivery ids unique (capabilities.uniqueDeliveryIds)');
      }
      if (path === 'reading the log') {
        Object.assign(harness.world, { capabilities: { ...harness.world.capabilities, uniqueDeliveryIds: false } });
      }
    });
    afterEach(async () => {
      await harness.close();
    });

    /** Starts `collect`, waits for its signal hook, and returns the run with a way to end it. */
    async function collecting() {
      const k = key();
      // A delivery whose answer was lost may also have lost the claim on its wake; a short
      // lease lets the queue hand that wake on quickly.
      await harness.startWorker({ workflows: [collect], orchestrationLeaseMs: 1000 });
      const run = await harness.client.start(collect, k);
      const hook = await harness.client.waitForHook(`signal:${k}`, { timeoutMs: 20_000 });
      return {
        signal: `signal:${k}`,
        run,
        /** The run's hook_received events for the signal hook, read straight from the World. */
        deliveries: async () =>
          (await allEvents(harness.world.inner, run.id)).filter(
            (event) => event.eventType === 'hook_received' && event.correlationId === hook.hookId,
          ),
        finish: async () => {
          await harness.client.resumeHook(`done:${k}`, null);
          return run.result({ timeoutMs: 20_000 });
        },
        hookId: hook.hookId,
      };
    }

    /** Loses the answer of the next hook_received append, after it committed. */
    function loseNextDeliveryReply() {
      let lost = false;
      harness.world.afterAppend = async (call) => {
        if (lost || !call.eventTypes.includes('hook_received')) return;
        lost = true;
        throw unavailable(harness.world);
      };
    }

    it('resolves when the reply to a committed delivery is lost, and the run sees the payload once', async () => {
      const { signal, run, deliveries, finish, hookId } = await collecting();
      loseNextDeliveryReply();
      expect(await harness.client.resumeHook(signal, 'once')).toEqual({ runId: run.id, hookId });
      harness.world.afterAppend = undefined;
      const stored = await deliveries();
      expect(stored).toHaveLength(1);
      // Each delivery carries an id of its own next to the payload.
      expect(stored[0]!.eventData).toMatchObject({ deliveryId: expect.stringMatching(/^[0-9A-Z]{26}$/) });
      expect(await finish()).toEqual(['once']);
    });

    it('finds a delivery the World committed after reporting an outage, and its fenced retry writes nothing', async (context) => {
      if (path !== 'reading the log') context.skip('only a delivery that reads the log fences its retry');
      const { signal, run, deliveries, finish, hookId } = await collecting();
      const { create, list } = harness.world.events;
      let late: (() => Promise<unknown>) | undefined;
      let held = false;
      // The first attempt reports an outage without writing, and lands just after the
      // delivery's first read of the log: the read misses it, the fence must not.
      harness.world.events.create = async (runId, request, params) => {
        if (held || request.eventType !== 'hook_received') return create(runId, request, params);
        held = true;
        const inner = harness.world.inner;
        // Unstamped: a stamp proposed for then may be in the World's past by the time it lands.
        const { createdAt: _stamp, ...unstamped } = params ?? {};
        late = () => inner.events.create(runId, request as CreateEventRequest, unstamped as CreateEventParams);
        throw unavailable(harness.world);
      };
      harness.world.events.list = async (runId, listOptions) => {
        const page = await list(runId, listOptions);
        const commit = runId === run.id ? late : undefined;
        if (commit !== undefined) {
          late = undefined;
          await commit();
        }
        return page;
      };
      try {
        expect(await harness.client.resumeHook(signal, 'late')).toEqual({ runId: run.id, hookId });
      } finally {
        Object.assign(harness.world.events, { create, list });
      }
      expect(await deliveries()).toHaveLength(1);
      const refused = harness.world.calls.filter(
        (call) => call.eventTypes.includes('hook_received') && call.fenced && !call.committed,
      );
      expect(refused.length, 'the retry was fenced and refused').toBeGreaterThan(0);
      expect(await finish()).toEqual(['late']);
    });

    it('refuses a first attempt that commits after its own retry, so the delivery is logged and counted once', async (context) => {
      if (path !== 'unique ids')
        context.skip('only a World that keeps delivery ids unique can refuse the late attempt');
      const { signal, run, deliveries, finish, hookId } = await collecting();
      const { create } = harness.world.events;
      let late: (() => Promise<unknown>) | undefined;
      // The first attempt reports an outage without writing; it is held, to land only after
      // the delivery's retry did, as an append stuck in a server or a proxy can.
      harness.world.events.create = async (runId, request, params) => {
        if (late !== undefined || request.eventType !== 'hook_received') return create(runId, request, params);
        const inner = harness.world.inner;
        // Unstamped: a stamp proposed for then would be in the World's past by the time it lands.
        const { createdAt: _stamp, ...unstamped } = params ?? {};
        late = () => inner.events.create(runId, request as CreateEventRequest, unstamped as CreateEventParams);
        throw unavailable(harness.world);
      };
      try {
        expect(await harness.client.resumeHook(signal, 'late')).toEqual({ runId: run.id, hookId });
      } finally {
        harness.world.events.create = create;
      }
      const landing = await rejection(late!());
      expect(DuplicateDeliveryError.is(landing)).toBe(true);
      expect(landing).toMatchObject({ runId: run.id, hookId });
      expect(await deliveries()).toHaveLength(1);
      expect((await harness.world.inner.hooks.get(run.id, hookId)).receivedCount).toBe(1);
      expect(await finish()).toEqual(['late']);
    });

    it('feeds the workflow a delivery once even when the log holds it twice', async () => {
      const { signal, run, deliveries, finish, hookId } = await collecting();
      // What a first attempt that commits after its own fenced retry leaves behind on a World
      // that does not keep delivery ids unique: the same delivery logged twice. Written
      // straight to the World, as such an attempt would land; a World that keeps them unique
      // refuses the second copy.
      const repeat = {
        eventType: 'hook_received',
        correlationId: hookId,
        eventData: { payload: 'x', deliveryId: 'twice' },
      } as CreateEventRequest;
      await harness.world.inner.events.create(run.id, repeat);
      const second = harness.world.inner.events.create(run.id, repeat);
      if (worldRefusesRepeats) expect(DuplicateDeliveryError.is(await rejection(second))).toBe(true);
      else await second;
      await harness.client.resumeHook(signal, 'y');
      expect(await deliveries()).toHaveLength(worldRefusesRepeats ? 2 : 3);
      expect(await finish()).toEqual(['x', 'y']);
    });

    it('writes a caller-chosen deliveryId once however often it is sent, at the same time too', async () => {
      const { signal, run, deliveries, finish, hookId } = await collecting();
      const answer = { runId: run.id, hookId };
      loseNextDeliveryReply();
      expect(await harness.client.resumeHook(signal, 'a', { deliveryId: 'order-42' })).toEqual(answer);
      harness.world.afterAppend = undefined;
      expect(await harness.client.resumeHook(signal, 'a', { deliveryId: 'order-42' })).toEqual(answer);
      expect(
        await Promise.all([
          harness.client.resumeHook(signal, 'b', { deliveryId: 'order-43' }),
          harness.client.resumeHook(signal, 'b', { deliveryId: 'order-43' }),
          harness.client.resumeHook(signal, 'b', { deliveryId: 'order-43' }),
        ]),
      ).toEqual([answer, answer, answer]);
      const stored = await deliveries();
      expect(stored.map((event) => (event.eventData as { deliveryId?: string }).deliveryId)).toEqual([
        'order-42',
        'order-43',
      ]);
      expect(await finish()).toEqual(['a', 'b']);
    });

    it("does not deliver a caller-chosen deliveryId again to the hook that took over the first one's token", async () => {
      const k = key();
      await harness.startWorker({ workflows: [relay] });
      const run = await harness.client.start(relay, k);
      const first = await harness.client.waitForHook(`relay:${k}`, { timeoutMs: 20_000 });
      const answer = { runId: run.id, hookId: first.hookId };
      expect(await harness.client.resumeHook(`relay:${k}`, 'a', { deliveryId: 'd1' })).toEqual(answer);
      await eventually(
        async () => {
          const holder = await harness.client.waitForHook(`relay:${k}`, { timeoutMs: 20_000 });
          return holder.hookId === first.hookId ? undefined : holder;
        },
        20_000,
        'the second hook',
      );
      // The same delivery again resolves as the first did, on the first hook.
      expect(await harness.client.resumeHook(`relay:${k}`, 'a', { deliveryId: 'd1' })).toEqual(answer);
      await harness.client.resumeHook(`relay:${k}`, 'b', { deliveryId: 'd2' });
      await harness.client.resumeHook(`done:${k}`, null);
      expect(await run.result({ timeoutMs: 20_000 })).toEqual(['a', 'b']);
    });

    it('refuses a caller-chosen deliveryId that another hook of the run already received, naming that hook', async (context) => {
      if (!worldRefusesRepeats)
        context.skip('this World does not keep delivery ids unique (capabilities.uniqueDeliveryIds)');
      const { signal, run, finish, hookId } = await collecting();
      expect(await harness.client.resumeHook(signal, 'a', { deliveryId: 'invoice-7' })).toEqual({
        runId: run.id,
        hookId,
      });
      // The run's other hook holds another token: the same id there is another delivery.
      const error = await rejection(
        harness.client.resumeHook(signal.replace('signal:', 'done:'), null, { deliveryId: 'invoice-7' }),
      );
      expect(DuplicateDeliveryError.is(error)).toBe(true);
      expect(error).toMatchObject({ runId: run.id, deliveryId: 'invoice-7', hookId });
      expect(await finish()).toEqual(['a']);
    });

    it('gives up with the last error after the timeout, and a retry with the same deliveryId writes nothing', async () => {
      const { signal, run, deliveries, finish, hookId } = await collecting();
      loseNextDeliveryReply();
      const { list } = harness.world.events;
      // Neither the log nor the World's answer to another attempt can be had, so the
      // delivery cannot tell whether it landed.
      harness.world.events.list = async (runId, listOptions) => {
        if (runId === run.id) throw unavailable(harness.world);
        return list(runId, listOptions);
      };
      let attempts = 0;
      harness.world.beforeAppend = async (call) => {
        if (call.eventTypes.includes('hook_received') && ++attempts > 1) throw unavailable(harness.world);
      };
      const started = Date.now();
      let error: unknown;
      try {
        error = await rejection(harness.client.resumeHook(signal, 'x', { deliveryId: 'retry-me', timeoutMs: 300 }));
      } finally {
        harness.world.events.list = list;
        harness.world.afterAppend = undefined;
        harness.world.beforeAppend = undefined;
      }
      expect(WorldUnavailableError.is(error)).toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(await harness.client.resumeHook(signal, 'x', { deliveryId: 'retry-me' })).toEqual({
        runId: run.id,
        hookId,
      });
      expect(await deliveries()).toHaveLength(1);
      expect(await finish()).toEqual(['x']);
    });

    it('refuses a bad deliveryId with InvalidInputError naming it, before waiting for the hook', async () => {
      const token = `nobody:${key()}`;
      for (const bad of ['', 'x'.repeat(129), 42, null, 'a\u0000b']) {
        const started = Date.now();
        const error = await rejection(harness.client.resumeHook(token, 1, { deliveryId: bad as string }));
        expect(InvalidInputError.is(error)).toBe(true);
        expect(error).toMatchObject({ field: 'options.deliveryId', value: bad });
        expect(Date.now() - started).toBeLessThan(1000);
      }
      // The longest id allowed is taken; there is just no hook to deliver it to.
      const longest = await rejection(
        harness.client.resumeHook(token, 1, { deliveryId: 'x'.repeat(128), timeoutMs: 0 }),
      );
      expect(HookWaitTimeoutError.is(longest)).toBe(true);
    });
  });
}
