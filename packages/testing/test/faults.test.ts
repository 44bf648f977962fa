import { createHook, sleep, step, workflow } from '@cairn/core';
import { afterEach, describe, expect, it } from 'vitest';
import { checkReplay, createTestEnvironment, InjectedFaultError, type TestEnvironment } from '../src/index.js';

const bodies = new Map<string, number>();
const count = (name: string) => bodies.set(name, (bodies.get(name) ?? 0) + 1);

const charge = step(
  'faults.charge',
  async (amount: number) => {
    count('faults.charge');
    return { charged: amount };
  },
  { maxRetries: 5, backoff: { initialMs: 60_000, factor: 2, maxMs: 3_600_000 } },
);
const ship = step('faults.ship', async (id: string) => {
  count('faults.ship');
  return `shipped ${id}`;
});

const order = workflow('faults.order', async (id: string) => {
  const payment = await charge(42);
  await sleep('1h');
  const shipment = await ship(id);
  return { payment, shipment };
});

const raceHook = workflow('faults.race-hook', async (token: string) => {
  const hook = createHook<string>({ token });
  return Promise.race([hook.then((value) => `hook:${value}`), sleep('1d').then(() => 'timeout')]);
});

/** Every step of the run is recorded completed exactly once, and nothing else went wrong. */
async function expectCleanLog(env: TestEnvironment, runId: string) {
  const events = await (await env.client.getRun(runId)).events();
  const completions = events
    .filter((event) => event.eventType === 'step_completed')
    .map((event) => event.correlationId);
  expect(new Set(completions).size).toBe(completions.length);
  expect(events.at(-1)?.eventType).toBe('run_completed');
  const verdict = await checkReplay(order, await env.exportRun(runId));
  expect(verdict.status).toBe('completed');
}

describe('faults', () => {
  let env: TestEnvironment;
  afterEach(async () => {
    await env?.close();
    bodies.clear();
  });

  it("fails a named step's next N attempts; the step's retries absorb them", async () => {
    env = await createTestEnvironment({ workflows: [order] });
    env.faults.failStep('faults.charge', { attempts: 3 });
    const run = await env.client.start(order, 'a');
    expect(await run.result()).toEqual({ payment: { charged: 42 }, shipment: 'shipped a' });
    const retries = (await run.events()).filter((event) => event.eventType === 'step_retrying');
    expect(retries).toHaveLength(3);
    expect(env.faults.injected.stepFailures).toBe(3);
    for (const retry of retries)
      expect((retry.eventData as { error: { message: string } }).error.message).toMatch(/Injected failure/);
    // The body itself ran once: the injected failures happen before it.
    expect(bodies.get('faults.charge')).toBe(1);
    await expectCleanLog(env, run.id);
  });

  it('delays appends, and the workflow finishes the same', async () => {
    env = await createTestEnvironment({ workflows: [order], seed: 7 });
    env.faults.delayAppends({ appends: 4, min: 5, max: 40 });
    const run = await env.client.start(order, 'b');
    expect(await run.result()).toEqual({ payment: { charged: 42 }, shipment: 'shipped b' });
    expect(env.faults.injected.delayedAppends).toBe(4);
    await expectCleanLog(env, run.id);
  });

  it('forces FenceConflictError on the next fenced writes; the engine re-derives and nothing is duplicated', async () => {
    env = await createTestEnvironment({ workflows: [order] });
    env.faults.forceFenceConflicts(4);
    const run = await env.client.start(order, 'c');
    expect(await run.result()).toEqual({ payment: { charged: 42 }, shipment: 'shipped c' });
    expect(env.faults.injected.fenceConflicts).toBe(4);
    await expectCleanLog(env, run.id);
  });

  it('crashes the worker between a step completing and its record; a fresh worker runs the step again', async () => {
    env = await createTestEnvironment({ workflows: [order] });
    env.faults.crashBeforeRecording('faults.ship');
    const first = env.worker;
    const run = await env.client.start(order, 'd');
    expect(await run.result()).toEqual({ payment: { charged: 42 }, shipment: 'shipped d' });
    expect(env.worker).not.toBe(first);
    expect(env.faults.injected.crashes).toBe(1);
    // At least once: the crashed attempt's result was lost, so the body ran twice; the log has one completion.
    expect(bodies.get('faults.ship')).toBe(2);
    expect(bodies.get('faults.charge')).toBe(1);
    await expectCleanLog(env, run.id);
  });

  const firsts = new Set<string>();
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`delivers a hook payload as the sleep fires (seed ${seed}); the run ends one way and replays the same`, async () => {
      env = await createTestEnvironment({ workflows: [raceHook], seed });
      const run = await env.client.start(raceHook, `race-${seed}`);
      const race = await env.resumeHookAsSleepEnds(run.id, `race-${seed}`, 'payload');
      firsts.add(race.first);
      const output = await run.result();
      expect(['hook:payload', 'timeout']).toContain(output);
      if (output === 'hook:payload') expect(race.delivered).toBe(true);
      const verdict = await checkReplay(raceHook, await env.exportRun(run.id));
      expect(verdict).toEqual({ status: 'completed', output });
    });
  }

  it('the seeds above started the race both ways', () => {
    expect([...firsts].sort()).toEqual(['hook', 'sleep']);
  });

  it('draws the same race order from the same seed', async () => {
    const orders: string[] = [];
    for (let round = 0; round < 2; round++) {
      env = await createTestEnvironment({ workflows: [raceHook], seed: 99 });
      const run = await env.client.start(raceHook, `same-${round}`);
      orders.push((await env.resumeHookAsSleepEnds(run.id, `same-${round}`, 'x')).first);
      await run.result();
      await env.close();
    }
    expect(orders[0]).toBe(orders[1]);
  });

  it('names the fault in the error it injects', () => {
    const error = new InjectedFaultError({ fault: 'failStep', message: 'Injected failure' });
    expect(InjectedFaultError.is(error)).toBe(true);
    expect(InjectedFaultError.is(new Error('Injected failure'))).toBe(false);
  });

  it('refuses bad fault settings with a typed error naming the field', async () => {
    env = await createTestEnvironment({ workflows: [order] });
    expect(() => env.faults.failStep('faults.charge', { attempts: 0 })).toThrow(/options.attempts/);
    expect(() => env.faults.forceFenceConflicts(-1)).toThrow(/writes/);
    expect(() => env.faults.delayAppends({ appends: 1, min: 50, max: 10 })).toThrow(/options.min/);
  });
});
