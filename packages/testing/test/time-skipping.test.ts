import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHook, map, RetryableError, sleep, startChild, step, workflow } from '@cairn/core';
import { createLocalWorld } from '@cairn/world-local';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestEnvironment, type TestEnvironment } from '../src/index.js';

const hour = 3_600_000;
const day = 24 * hour;

let attempts = 0;
/** Fails twice, each time asking for an hour's backoff, then succeeds. */
const reserve = step(
  'time-skipping.reserve',
  async (order: string) => {
    attempts += 1;
    if (attempts <= 2) throw new RetryableError('warehouse busy', { retryAfter: '1h' });
    return `reserved ${order}`;
  },
  { maxRetries: 3 },
);

const fulfil = workflow('time-skipping.fulfil', async (order: string) => {
  const started = Date.now();
  const reservation = await reserve(order);
  const reservedAt = Date.now();
  await sleep('30d');
  const approval = createHook<{ approved: boolean }>({ token: `approve:${order}` });
  const outcome = await Promise.race([
    approval.then((payload) => (payload.approved ? 'approved' : 'rejected')),
    sleep('7d').then(() => 'timed out'),
  ]);
  return { reservation, outcome, retriedFor: reservedAt - started, total: Date.now() - started };
});

const nap = workflow('time-skipping.nap', async (days: number) => {
  await sleep(days * day);
  return days;
});
const double = step('time-skipping.double', async (value: number) => value * 2);
const family = workflow('time-skipping.family', async () => {
  const children = [startChild(nap, 3), startChild(nap, 10)];
  const doubled = await map([1, 2, 3], async (value) => {
    await sleep('1h');
    return double(value);
  });
  return { naps: await Promise.all(children.map((child) => child.result())), doubled };
});

const slowLookup = step('time-skipping.slow-lookup', async () => {
  // Real I/O that takes a while: time must not jump while it runs.
  await new Promise((resolve) => setTimeout(resolve, 150));
  return 'looked up';
});
const lookupOrGiveUp = workflow('time-skipping.lookup-or-give-up', async () =>
  Promise.race([slowLookup(), sleep('1m').then(() => 'gave up')]),
);

// The wall-time checks retry: a machine saturated by other work can stall any test for a
// second, and the claim is about the harness, not about the machine.
describe('time skipping', () => {
  let env: TestEnvironment;
  afterEach(async () => {
    await env?.close();
  });

  it('runs two one-hour retries, a 30-day sleep and a resumed hook in well under a second', { retry: 2 }, async () => {
    attempts = 0;
    env = await createTestEnvironment({ workflows: [fulfil] });
    const startedAt = performance.now();
    const run = await env.client.start(fulfil, 'order-1');
    // Skips the two retries and the 30-day sleep, and stops once the hook exists.
    await env.waitForHook('approve:order-1');
    await env.client.resumeHook('approve:order-1', { approved: true });
    const output = await run.result();
    const wallMs = performance.now() - startedAt;
    expect(output.reservation).toBe('reserved order-1');
    expect(output.outcome).toBe('approved');
    expect(attempts).toBe(3);
    expect(output.retriedFor).toBeGreaterThanOrEqual(2 * hour);
    expect(output.total).toBeGreaterThanOrEqual(2 * hour + 30 * day);
    expect(output.total).toBeLessThan(2 * hour + 37 * day);
    expect(wallMs).toBeLessThan(1000);
  });

  it('times the hook out after 7 virtual days in well under a second', { retry: 2 }, async () => {
    attempts = 0;
    env = await createTestEnvironment({ workflows: [fulfil] });
    const startedAt = performance.now();
    const run = await env.client.start(fulfil, 'order-2');
    const output = await run.result();
    const wallMs = performance.now() - startedAt;
    expect(output.outcome).toBe('timed out');
    expect(output.total).toBeGreaterThanOrEqual(2 * hour + 37 * day);
    expect(wallMs).toBeLessThan(1000);
  });

  it('with autoSkip off, moves only when the test advances the clock', async () => {
    attempts = 2;
    env = await createTestEnvironment({ workflows: [fulfil], autoSkip: false });
    const run = await env.client.start(fulfil, 'order-3');
    const wait = await env.waitForSleep(run.id);
    expect(wait.resumeAt - env.clock.now()).toBeGreaterThan(29 * day);
    await env.clock.advance('29d');
    expect(await run.status()).toBe('running');
    expect((await env.world.waits.get(run.id, wait.waitId)).status).toBe('waiting');
    await env.clock.advance('1d');
    await env.waitForHook('approve:order-3');
    await env.clock.advance('6d');
    expect(await run.status()).toBe('running');
    await env.clock.advance('1d');
    const output = await run.result();
    expect(output.outcome).toBe('timed out');
  });

  it('skips through child runs and map fan-outs that sleep', async () => {
    env = await createTestEnvironment({ workflows: [family, nap] });
    const startedAt = env.clock.now();
    const run = await env.client.start(family, undefined);
    expect(await run.result()).toEqual({ naps: [3, 10], doubled: [2, 4, 6] });
    expect(env.clock.now() - startedAt).toBe(10 * day);
  });

  it('does not skip time while a step attempt runs', async () => {
    env = await createTestEnvironment({ workflows: [lookupOrGiveUp] });
    const run = await env.client.start(lookupOrGiveUp, undefined);
    expect(await run.result()).toBe('looked up');
  });

  it('runs on a World built from the environment clock', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'cairn-testing-own-'));
    env = await createTestEnvironment({
      workflows: [nap],
      startAt: new Date('2030-01-01T00:00:00Z'),
      world: (clock) => createLocalWorld({ dir, clock }),
    });
    const run = await env.client.start(nap, 2);
    expect(await run.result()).toBe(2);
    expect(new Date(env.clock.now()).toISOString()).toBe('2030-01-03T00:00:00.000Z');
    const events = await run.events();
    expect(events.at(-1)!.createdAt).toBe(Date.parse('2030-01-03T00:00:00Z'));
  });

  it('refuses bad options with a typed error naming the field, leaving nothing behind', async () => {
    await expect(createTestEnvironment({ workflows: [fulfil], seed: 1.5 })).rejects.toThrow(/seed/);
    await expect(createTestEnvironment({ workflows: [{} as typeof fulfil] })).rejects.toThrow(/workflows/);
    env = await createTestEnvironment({ workflows: [fulfil] });
    await expect(env.clock.advance('soon')).rejects.toThrow(/duration/);
  });
});
