import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runDemo, sampleOrder } from '../src/order-pipeline.js';

describe('order pipeline demo', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cairn-examples-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('ships the order after a retried charge, parallel reservations, a released hook and a sleep', async () => {
    const lines: string[] = [];
    const demo = await runDemo({ dir: join(dir, 'world'), log: (line) => lines.push(line) });
    const items = sampleOrder.items.length;

    expect(demo.result).toEqual({
      orderId: 'ORD-1042',
      status: 'shipped',
      totalCents: 2 * 1_450 + 2_900 + 3_999,
      chargeId: 'ch_ord-1042_2',
      reservations: sampleOrder.items.map((item) => ({
        sku: item.sku,
        quantity: item.quantity,
        bin: expect.any(String),
      })),
      releasedBy: 'warehouse-manager',
      trackingId: expect.stringMatching(/^1Z/),
    });
    expect(demo.replayMatches).toBe(true);

    const { events, counts } = demo;
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
    expect(events[0]?.eventType).toBe('run_created');
    expect(events.at(-1)?.eventType).toBe('run_completed');
    // validate, charge, one reservation per line item, ship.
    const steps = 3 + items;
    expect(counts).toMatchObject({
      run_created: 1,
      run_started: 1,
      step_created: steps,
      step_retrying: 1,
      step_completed: steps,
      hook_created: 1,
      hook_received: 1,
      hook_disposed: 1,
      wait_created: 1,
      wait_completed: 1,
      run_completed: 1,
    });
    expect(counts.step_failed).toBeUndefined();
    expect(Object.values(counts).reduce((sum, count) => sum + count, 0)).toBe(events.length);

    // The retry is on the charge step, and the order of things is the workflow's.
    const stepNames = new Map<string, string>();
    for (const event of events)
      if (event.eventType === 'step_created') stepNames.set(event.correlationId, event.eventData.stepName);
    const retrying = events.find((event) => event.eventType === 'step_retrying');
    expect(stepNames.get(retrying?.correlationId ?? '')).toBe('orders.charge-payment');
    const seqOf = (type: string) => events.find((event) => event.eventType === type)?.seq ?? -1;
    expect(seqOf('hook_created')).toBeLessThan(seqOf('hook_received'));
    expect(seqOf('hook_received')).toBeLessThan(seqOf('wait_created'));
    expect(seqOf('wait_created')).toBeLessThan(seqOf('wait_completed'));
    // All reservations were created before any of them completed: they ran in parallel.
    const reservationIds = [...stepNames].filter(([, name]) => name === 'orders.reserve-inventory').map(([id]) => id);
    expect(reservationIds).toHaveLength(items);
    const reservationEvents = events.filter((event) => reservationIds.includes(event.correlationId ?? ''));
    const lastCreated = Math.max(...reservationEvents.filter((e) => e.eventType === 'step_created').map((e) => e.seq));
    const firstCompleted = Math.min(
      ...reservationEvents.filter((e) => e.eventType === 'step_completed').map((e) => e.seq),
    );
    expect(lastCreated).toBeLessThan(firstCompleted);

    // The sleep really waited, and the run took about as long as the retry backoff plus the sleep.
    const waitCreated = events.find((event) => event.eventType === 'wait_created');
    const waitCompleted = events.find((event) => event.eventType === 'wait_completed');
    if (waitCreated?.eventType !== 'wait_created') throw new Error('no wait_created event');
    // Inside the workflow "now" was the hook delivery, so the sleep ends 750 ms after it.
    const hookReceived = events.find((event) => event.eventType === 'hook_received');
    expect(waitCreated.eventData.resumeAt).toBeGreaterThanOrEqual(hookReceived!.createdAt + 750);
    expect(waitCompleted!.createdAt).toBeGreaterThanOrEqual(waitCreated.eventData.resumeAt);
    expect(demo.durationMs).toBeGreaterThanOrEqual(1_000);

    // The progress output shows the retry, the driver's release and the summary.
    const text = lines.join('\n');
    expect(text).toMatch(/attempt 1: gateway answered 503/);
    expect(text).toMatch(/attempt 2: charged \$97\.99/);
    expect(text).toMatch(/hook release:ORD-1042 is live/);
    expect(text).toMatch(/Event log: \d+ events/);
    expect(text).toMatch(/Replay check: replaying the log from scratch reproduces the same result/);
  });

  it('starts from an empty World when run again in the same directory', async () => {
    const world = join(dir, 'world');
    const first = await runDemo({ dir: world, log: () => {} });
    const second = await runDemo({ dir: world, log: () => {} });
    expect(second.result).toEqual(first.result);
    expect(second.counts.run_created).toBe(1);
    expect(second.counts).toEqual(first.counts);
  });
});
