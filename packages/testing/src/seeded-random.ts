/**
 * A small deterministic generator (mulberry32): the same seed gives the same sequence on
 * every machine, so a fault schedule drawn from it reproduces.
 */
export function seededRandom(seed: number): () => number {
  // Scrambled first, so neighbouring seeds do not start with neighbouring values.
  let state = Math.imul((seed >>> 0) ^ 0x5bd1e995, 0x9e3779b1) >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
}
