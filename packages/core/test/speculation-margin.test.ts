import { describe, expect, it } from 'vitest';
import { SpeculationMargin } from '../src/runtime/speculation-margin.js';

describe('SpeculationMargin', () => {
  it('starts at the floor and stays there while appends are fast', () => {
    const margin = new SpeculationMargin(25, 1000);
    for (let index = 0; index < 10; index++) margin.committed(3);
    expect(margin.ms).toBe(25);
  });

  it('widens past a refused latency, and up to twice an append that came close', () => {
    const margin = new SpeculationMargin(25, 1000);
    margin.refused(70);
    expect(margin.ms).toBe(140);
    margin.committed(100);
    expect(margin.ms).toBe(200);
  });

  it('stays at a floor of 0 however slow an append looked', () => {
    // A virtual clock the test moved by a day during an append.
    const margin = new SpeculationMargin(0, 1000);
    margin.committed(86_400_000);
    margin.refused(5);
    expect(margin.ms).toBe(0);
  });

  it('never exceeds the ceiling', () => {
    const margin = new SpeculationMargin(25, 300);
    for (let index = 0; index < 10; index++) margin.refused(500);
    expect(margin.ms).toBe(300);
  });

  it('drifts back to the floor with time once appends are fast again', () => {
    let now = 0;
    const margin = new SpeculationMargin(25, 1000, () => now);
    margin.refused(400);
    expect(margin.ms).toBe(800);
    now += 2000;
    margin.committed(2);
    expect(margin.ms).toBe(25 + Math.ceil(775 / 2));
    now += 60_000;
    margin.committed(2);
    expect(margin.ms).toBe(25);
  });

  it('keeps what a burst taught it through the fast commits that end the burst', () => {
    // Load comes in bursts: the last appends of one are fast (the queue has drained), and
    // the next burst's first stamps need the margin the previous burst needed.
    let now = 0;
    const margin = new SpeculationMargin(25, 1000, () => now);
    margin.committed(60);
    expect(margin.ms).toBe(120);
    for (let index = 0; index < 200; index++) {
      now += 1;
      margin.committed(2);
    }
    expect(margin.ms).toBeGreaterThanOrEqual(110);
  });
});

describe('SpeculationMargin.ms', () => {
  it('is always whole milliseconds, since a proposed createdAt must be', () => {
    const margin = new SpeculationMargin(25, 1000);
    margin.refused(333.3);
    for (let index = 0; index < 50; index++) {
      margin.committed(1);
      expect(Number.isInteger(margin.ms)).toBe(true);
    }
  });
});
