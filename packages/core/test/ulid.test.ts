import { decodeTime, ulid as referenceUlid } from 'ulid';
import { describe, expect, it } from 'vitest';
import { ulid } from '../src/world/ulid.js';

describe('ulid', () => {
  it('encodes the time as the reference implementation does, and reads back', () => {
    for (const now of [0, 1, 31, 32, 1_700_000_000_123, 0xffff_ffff_ffff]) {
      const id = ulid(now);
      expect(id).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
      expect(decodeTime(id)).toBe(now);
      // The reference takes 0 for "no time given", so it is compared from 1 on.
      if (now > 0) expect(id.slice(0, 10)).toBe(referenceUlid(now).slice(0, 10));
    }
  });

  it('sorts by time and gives distinct random parts across many pool refills', () => {
    const ids = Array.from({ length: 5000 }, (_, index) => ulid(1_000_000 + Math.floor(index / 100)));
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort((a, b) => a.slice(0, 10).localeCompare(b.slice(0, 10)))).toEqual(ids);
    // Every one of the 32 characters turns up in the random parts: no bias to a subset.
    expect(new Set(ids.join('').split('')).size).toBe(32);
  });

  it('names the value it refuses', () => {
    expect(() => ulid(-1)).toThrow(/now must be .*\(got -1\)/);
    expect(() => ulid(1.5)).toThrow(/got 1\.5/);
    expect(() => ulid(2 ** 48)).toThrow(RangeError);
  });
});
