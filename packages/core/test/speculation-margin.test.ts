import { describe, expect, it } from 'vitest';
import { type PendingAppend, SpeculationMargin } from '../src/runtime/speculation-margin.js';
import { InvalidInputError } from '../src/world/errors/invalid-input-error.js';
import { WorldUnavailableError } from '../src/world/errors/world-unavailable-error.js';

/** A margin on a clock the test moves, with helpers to time appends on it. */
function marginOn(floorMs: number, ceilingMs: number) {
  const clock = { now: 0 };
  const margin = new SpeculationMargin(floorMs, ceilingMs, () => clock.now);
  return {
    margin,
    clock,
    /** Sends one append alone, lets `latencyMs` pass, and settles it; returns the margin it was given. */
    alone(latencyMs: number, outcome: 'committed' | 'refused' = 'committed'): number {
      const pending = margin.send();
      clock.now += latencyMs;
      pending[outcome]();
      return pending.ms;
    },
    /** The margin an append sent now, alone, would get. */
    next(): number {
      const pending = margin.send();
      pending.abandoned();
      return pending.ms;
    },
  };
}

describe('SpeculationMargin', () => {
  it('starts at the floor and stays there while appends are fast', () => {
    const { alone, next } = marginOn(25, 1000);
    for (let index = 0; index < 10; index++) alone(3);
    expect(next()).toBe(25);
  });

  it('widens past a refused latency, and up to twice an append that came close', () => {
    const { alone, next } = marginOn(25, 1000);
    alone(70, 'refused');
    expect(next()).toBe(140);
    alone(100);
    expect(next()).toBe(200);
  });

  it('stays at a floor of 0 however slow an append looked', () => {
    // A virtual clock the test moved by a day during an append.
    const { alone, next } = marginOn(0, 1000);
    alone(86_400_000);
    alone(5, 'refused');
    expect(next()).toBe(0);
  });

  it('never exceeds the ceiling', () => {
    const { alone, next } = marginOn(25, 300);
    for (let index = 0; index < 10; index++) alone(500, 'refused');
    expect(next()).toBe(300);
  });

  it('drifts back to the floor with time once appends are fast again', () => {
    const { alone, next, clock } = marginOn(25, 1000);
    alone(400, 'refused');
    expect(next()).toBe(800);
    clock.now += 2000;
    // Enough fast appends that the cost they show has forgotten the slow one.
    for (let index = 0; index < 30; index++) alone(0);
    expect(next()).toBe(25 + Math.ceil(775 / 2));
    clock.now += 60_000;
    alone(0);
    expect(next()).toBe(25);
  });

  it('keeps what a burst taught it through the fast commits that end the burst', () => {
    // Load comes in bursts: the last appends of one are fast (the queue has drained), and
    // the next burst's first stamps need the margin the previous burst needed.
    const { alone, next } = marginOn(25, 1000);
    alone(60);
    expect(next()).toBe(120);
    for (let index = 0; index < 200; index++) alone(1);
    expect(next()).toBeGreaterThanOrEqual(110);
  });
});

describe('SpeculationMargin.send', () => {
  it('gives each append of a burst twice the cost of the appends ahead of it, itself included', () => {
    const { margin, alone } = marginOn(25, 1000);
    for (let index = 0; index < 5; index++) alone(4);
    // Forty stamps chosen before any of them commits, as when forty runs start together.
    const burst = Array.from({ length: 40 }, () => margin.send());
    expect(burst.map((pending) => pending.ms)).toEqual(
      Array.from({ length: 40 }, (_, index) => Math.max(25, 8 * (index + 1))),
    );
    for (const pending of burst) pending.abandoned();
  });

  it('assumes at least a millisecond per append ahead, however fast the last burst was', () => {
    const { margin, alone } = marginOn(25, 1000);
    for (let index = 0; index < 5; index++) alone(0.1);
    const burst = Array.from({ length: 100 }, () => margin.send());
    expect(burst.at(11)?.ms).toBe(25);
    expect(burst.at(99)?.ms).toBe(200);
    for (const pending of burst) pending.abandoned();
  });

  it('counts an append from the moment its stamp is chosen until it is settled, once', () => {
    const { margin, alone, next } = marginOn(25, 1000);
    alone(20);
    // The base margin is twice the lone append's 20 ms; the queue's allowance grows past it.
    const first = margin.send();
    const second = margin.send();
    const third = margin.send();
    expect([first.ms, second.ms, third.ms]).toEqual([40, 80, 120]);
    first.abandoned();
    first.abandoned();
    // Two are still on their way, so the next is the third in line.
    const fourth = margin.send();
    expect(fourth.ms).toBe(120);
    for (const pending of [second, third, fourth]) pending.abandoned();
    expect(next()).toBe(40);
  });

  it('widens the base margin to twice the latency of a queued append, for the next burst', () => {
    const { margin, clock, alone, next } = marginOn(25, 1000);
    for (let index = 0; index < 5; index++) alone(4);
    const burst: PendingAppend[] = Array.from({ length: 40 }, () => margin.send());
    // The World takes them one after another, 4 ms each: the last commits after 160 ms.
    for (const pending of burst) {
      clock.now += 4;
      pending.committed();
    }
    expect(next()).toBe(320);
  });

  it('widens the base margin when queued appends are slower than the cost per append they were given', () => {
    const { margin, clock, alone, next } = marginOn(25, 1000);
    for (let index = 0; index < 5; index++) alone(4);
    const burst: PendingAppend[] = Array.from({ length: 10 }, () => margin.send());
    // Something besides the queue (another process's load) made each take 10 ms.
    for (const pending of burst) {
      clock.now += 10;
      pending.committed();
    }
    expect(next()).toBe(200);
  });

  it('lets an append whose stamp was chosen earlier reach the World first, waiting one turn at most', async () => {
    const { margin } = marginOn(25, 1000);
    const order: string[] = [];
    const first = margin.send();
    const second = margin.send();
    const sent = second.ready().then(() => order.push('second'));
    // The first is still being prepared in microtasks, as a first pass runs workflow code.
    await Promise.resolve();
    await Promise.resolve();
    await first.ready();
    order.push('first');
    await sent;
    expect(order).toEqual(['first', 'second']);
    // Once nothing earlier is waiting to be sent, ready() holds nothing back.
    const third = margin.send();
    let thirdReady = false;
    const ready = third.ready().then(() => {
      thirdReady = true;
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(thirdReady).toBe(true);
    await ready;
    for (const pending of [first, second, third]) pending.committed();
  });

  it('sends an append as soon as the older ones are sent, without waiting out the turn', async () => {
    const { margin } = marginOn(25, 1000);
    const order: string[] = [];
    const first = margin.send();
    const second = margin.send();
    // Work already queued for the next turn of the event loop, as further preparations would be.
    setImmediate(() => order.push('next turn'));
    const sent = second.ready().then(() => order.push('second'));
    await first.ready();
    order.push('first');
    await sent;
    await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(['first', 'second', 'next turn']);
    for (const pending of [first, second]) pending.committed();
  });

  it('does not hold an append back for one abandoned before it was sent', async () => {
    const { margin } = marginOn(25, 1000);
    const abandoned = margin.send();
    const next = margin.send();
    abandoned.abandoned();
    let ready = false;
    const waiting = next.ready().then(() => {
      ready = true;
    });
    await Promise.resolve();
    await Promise.resolve();
    expect(ready).toBe(true);
    await waiting;
    next.abandoned();
  });

  it('learns nothing from an append that met an outage, and times any other error like a commit', () => {
    const { margin, clock, next } = marginOn(25, 1000);
    const outage = margin.send();
    clock.now += 400;
    outage.threw(new WorldUnavailableError({ world: 'test', location: 'here', reason: 'down' }));
    expect(next()).toBe(25);
    const refusedInput = margin.send();
    clock.now += 100;
    refusedInput.threw(new InvalidInputError({ field: 'eventData', value: 1, reason: 'is too large' }));
    expect(next()).toBe(200);
  });

  it('is always whole milliseconds, since a proposed createdAt must be', () => {
    const { margin, alone } = marginOn(25, 1000);
    alone(333.3, 'refused');
    for (let index = 0; index < 50; index++) {
      alone(1.7);
      const queued = [margin.send(), margin.send(), margin.send()];
      for (const pending of queued) {
        expect(Number.isInteger(pending.ms)).toBe(true);
        pending.abandoned();
      }
    }
  });
});
