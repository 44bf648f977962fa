import type { Clock, QueueMessage, ScheduledCallback } from '@cairn/core/world';
import { InvalidInputError } from '@cairn/core/world';
import { afterEach, describe, expect, it } from 'vitest';
import type { PostgresWorld } from '../src/index.js';
import { createTestWorld } from './helpers.js';

/** A clock that moves only when the test says: the shape `@cairn/testing`'s VirtualClock has. */
class HandClock implements Clock {
  private timers: { at: number; callback: () => void }[] = [];
  constructor(private current: number) {}
  now(): number {
    return this.current;
  }
  schedule(at: number, callback: () => void): ScheduledCallback {
    const timer = { at, callback };
    this.timers.push(timer);
    if (at <= this.current) setImmediate(() => this.fire());
    return { cancel: () => (this.timers = this.timers.filter((other) => other !== timer)) };
  }
  advance(ms: number): void {
    this.current += ms;
    this.fire();
  }
  private fire(): void {
    const due = this.timers.filter((timer) => timer.at <= this.current);
    this.timers = this.timers.filter((timer) => timer.at > this.current);
    for (const timer of due) timer.callback();
  }
}

const opened: PostgresWorld[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
});

const inTwoThousandForty = Date.parse('2040-01-01T00:00:00Z');
const day = 86_400_000;

describe('world-postgres: an injected clock', () => {
  it('stamps events with it instead of the database clock', async () => {
    const clock = new HandClock(inTwoThousandForty);
    const world = createTestWorld({ clock });
    opened.push(world);
    const { event, run } = await world.events.create(null, {
      eventType: 'run_created',
      eventData: { workflowName: 'clocked' },
    });
    expect(event.createdAt).toBe(inTwoThousandForty);
    clock.advance(30 * day);
    const started = await world.events.create(run.runId, { eventType: 'run_started', eventData: {} });
    expect(started.event.createdAt).toBe(inTwoThousandForty + 30 * day);
  });

  it('delivers a delayed message when the clock reaches its due time, not before', async () => {
    const clock = new HandClock(inTwoThousandForty);
    const world = createTestWorld({ clock, pollIntervalMs: 50 });
    opened.push(world);
    const received: QueueMessage[] = [];
    const waiting = new Map<string, () => void>();
    const arrivalOf = (label: string) => new Promise<void>((resolve) => waiting.set(label, resolve));
    const consumer = world.queue.consume('clocked', async (message) => {
      received.push(message);
      waiting.get((message.payload as { label: string }).label)?.();
    });
    const lateArrival = arrivalOf('late');
    const nowArrival = arrivalOf('now');
    await world.queue.send('clocked', { label: 'late' }, { delayMs: 7 * day });
    await world.queue.send('clocked', { label: 'now' });
    // The consumer has leased since the delayed send, and left the week-away message alone.
    await nowArrival;
    expect(received.map((message) => message.payload)).toEqual([{ label: 'now' }]);
    clock.advance(7 * day);
    await lateArrival;
    // A month-long jump does not expire the first message's lease: it is not delivered again.
    expect(received.map((message) => message.payload)).toEqual([{ label: 'now' }, { label: 'late' }]);
    const late = received[1]!;
    expect(late.deliverAt).toBe(inTwoThousandForty + 7 * day);
    expect(late.enqueuedAt).toBe(inTwoThousandForty);
    await consumer.stop();
  });

  it('refuses a clock without now() and schedule() with InvalidInputError naming options.clock', () => {
    const refused = (() => {
      try {
        createTestWorld({ clock: { now: () => 1 } as unknown as Clock });
      } catch (error) {
        return error;
      }
    })();
    expect(InvalidInputError.is(refused)).toBe(true);
    expect((refused as Error).message).toMatch(/options\.clock/);
  });
});
