/**
 * A small seeded generator (mulberry32). Everything the fuzzer decides, the programs, the
 * fault plan and the hook schedule, comes from one of these, so a printed seed rebuilds
 * the same case.
 */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let value = this.state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 2 ** 32;
  }

  /** A whole number in [low, high]. */
  int(low: number, high: number): number {
    return low + Math.floor(this.next() * (high - low + 1));
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  pick<Item>(items: readonly Item[]): Item {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** An independent generator for one part of the case, so adding draws in one part leaves the others alone. */
  fork(label: string): Random {
    let hash = this.state ^ 0x9e3779b9;
    for (const character of label) hash = Math.imul(hash ^ character.charCodeAt(0), 0x85ebca6b) >>> 0;
    return new Random(hash);
  }
}

/** A fresh 32-bit seed, or `CAIRN_FUZZ_SEED` when it is set. */
export function fuzzSeed(fallback = Math.floor(Math.random() * 2 ** 32)): number {
  const fixed = process.env.CAIRN_FUZZ_SEED;
  if (fixed === undefined || fixed === '') return fallback >>> 0;
  const seed = Number(fixed);
  if (!Number.isInteger(seed) || seed < 0) throw new TypeError(`CAIRN_FUZZ_SEED must be a whole number, got ${fixed}`);
  return seed >>> 0;
}
