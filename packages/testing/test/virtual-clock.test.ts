import { describe, expect, it } from 'vitest';
import { toMilliseconds, VirtualClock } from '../src/index.js';

describe('VirtualClock', () => {
  it('fires callbacks in due order, ties in scheduling order, and never early', async () => {
    const clock = new VirtualClock(1_000);
    const fired: string[] = [];
    clock.schedule(3_000, () => fired.push(`c@${clock.now()}`));
    clock.schedule(2_000, () => fired.push(`a@${clock.now()}`));
    clock.schedule(2_000, () => fired.push(`b@${clock.now()}`));
    const cancelled = clock.schedule(2_500, () => fired.push('cancelled'));
    cancelled.cancel();
    await clock.advance(1_500);
    expect(fired).toEqual(['a@2000', 'b@2000']);
    expect(clock.now()).toBe(2_500);
    expect(clock.nextDueAt()).toBe(3_000);
    await clock.advance('1s');
    expect(fired).toEqual(['a@2000', 'b@2000', 'c@3000']);
    expect(clock.pending).toBe(0);
  });

  it('runs a callback already due on a later turn, not inside schedule()', async () => {
    const clock = new VirtualClock(5_000);
    let ran = false;
    clock.schedule(4_000, () => {
      ran = true;
    });
    expect(ran).toBe(false);
    await new Promise((resolve) => setImmediate(resolve));
    expect(ran).toBe(true);
  });

  it('skips to the next callback, and advances to an instant', async () => {
    const clock = new VirtualClock(0);
    clock.schedule(86_400_000, () => {});
    expect(await clock.skipToNext()).toBe(true);
    expect(clock.now()).toBe(86_400_000);
    expect(await clock.skipToNext()).toBe(false);
    await clock.advanceTo(new Date(90_000_000));
    expect(clock.now()).toBe(90_000_000);
    await clock.advanceTo(0);
    expect(clock.now()).toBe(90_000_000);
  });

  it('reads durations and refuses bad ones naming the field', () => {
    expect(toMilliseconds('2d', 'd')).toBe(172_800_000);
    expect(toMilliseconds('1.5h', 'd')).toBe(5_400_000);
    expect(toMilliseconds(250, 'd')).toBe(250);
    expect(() => toMilliseconds('soon', 'duration')).toThrow(/duration/);
    expect(() => toMilliseconds(-1, 'duration')).toThrow(/duration/);
    expect(() => new VirtualClock(-5)).toThrow(/startAt/);
  });
});
