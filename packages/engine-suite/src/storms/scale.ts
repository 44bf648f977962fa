/**
 * How big the storms are. CI scale keeps all three shapes in both lease modes well under a
 * minute on world-local; `CAIRN_SOAK=1` turns them into a soak (many more runs, rounds and
 * branches, and a long timeout). `CAIRN_STORM_SEED` replays a printed seed's shapes (the
 * timing of a race is the machine's, so a seed fixes the plan, not the interleaving).
 */
export interface StormScale {
  label: 'ci' | 'soak';
  /** Concurrent runs per storm. */
  runs: number;
  /** Rounds per run (hook-sleep loops twice as many, they are cheaper). */
  rounds: number;
  /** Branches per round in step-storm and hook-storm. */
  width: number;
  /** Workers on the one World: one orchestrator per run with the lease, real races without. */
  workers: { lease: number; noLease: number };
  /** Resume bursts aimed at each deadline, and concurrent resumes per burst. */
  bursts: number;
  burstSize: number;
  /** A run not terminal this long after the storm started counts as stuck. */
  stuckAfterMs: number;
  /** vitest timeout per storm. */
  testTimeoutMs: number;
}

export const soak = process.env.CAIRN_SOAK === '1';

export const scale: StormScale = soak
  ? {
      label: 'soak',
      runs: 24,
      rounds: 12,
      width: 8,
      workers: { lease: 2, noLease: 3 },
      bursts: 4,
      burstSize: 3,
      stuckAfterMs: 15 * 60_000,
      testTimeoutMs: 20 * 60_000,
    }
  : {
      label: 'ci',
      runs: 8,
      rounds: 3,
      width: 4,
      workers: { lease: 2, noLease: 3 },
      bursts: 3,
      burstSize: 3,
      stuckAfterMs: 60_000,
      testTimeoutMs: 120_000,
    };

/** The storm's seed: `CAIRN_STORM_SEED` when set, otherwise fresh (and printed, so it can be replayed). */
export function stormSeed(): number {
  const fixed = process.env.CAIRN_STORM_SEED;
  if (fixed !== undefined && fixed !== '') {
    const seed = Number(fixed);
    if (!Number.isInteger(seed) || seed < 0)
      throw new TypeError(`CAIRN_STORM_SEED must be a whole number, got ${fixed}`);
    return seed >>> 0;
  }
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

/**
 * A number in [0, 1) determined by the seed and the keys alone: workflows use it for
 * durations (it must be the same on every replay), the test for burst plans.
 */
export function unit(seed: number, ...keys: number[]): number {
  let hash = (seed ^ 0x9e3779b9) >>> 0;
  for (const key of [...keys, keys.length]) {
    hash = Math.imul(hash ^ (key + 0x7f4a7c15), 0x85ebca6b) >>> 0;
    hash ^= hash >>> 13;
    hash = Math.imul(hash, 0xc2b2ae35) >>> 0;
    hash ^= hash >>> 16;
  }
  return (hash >>> 0) / 2 ** 32;
}

/** A whole number in [low, high], determined by the seed and the keys. */
export function between(low: number, high: number, seed: number, ...keys: number[]): number {
  return low + Math.floor(unit(seed, ...keys) * (high - low + 1));
}

/** `[0, 1, …, count - 1]`. */
export const range = (count: number): number[] => Array.from({ length: count }, (_, index) => index);

/** A step body's stand-in for real work. */
export const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
