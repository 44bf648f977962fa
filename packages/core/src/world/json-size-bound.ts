import type { JsonValue } from './schemas/primitives.js';

/**
 * Whether `value`'s JSON surely takes at most `budget` bytes of UTF-8, by a bound that
 * serialises nothing: a string's UTF-16 unit takes at most 6 bytes once escaped (`\u001f`),
 * a number at most 32 characters, a key as much as a string plus its colon. So a payload
 * of 10 KB is checked against a limit of megabytes without being written out once more
 * (about 25 µs and a 20 KB string for the garbage collector on every step that carries one).
 * False means the bound did not settle it, and the caller counts exactly.
 */
export function surelyFitsJson(value: JsonValue, budget: number): boolean {
  return upperBound(value, budget, 0) <= budget;
}

/** Nesting beyond this is left to the exact count (which the World refuses anyway). */
const deepestWalked = 64;

function upperBound(value: JsonValue, budget: number, depth: number): number {
  if (typeof value === 'string') return 6 * value.length + 2;
  if (typeof value !== 'object' || value === null) return 32;
  if (depth > deepestWalked) return Number.POSITIVE_INFINITY;
  // Brackets, then each item with its comma; stops as soon as the budget is passed.
  let total = 2;
  if (Array.isArray(value)) {
    for (const item of value) {
      total += upperBound(item, budget - total, depth + 1) + 1;
      if (total > budget) return total;
    }
    return total;
  }
  for (const key in value) {
    total += 6 * key.length + 3 + upperBound(value[key] as JsonValue, budget - total, depth + 1) + 1;
    if (total > budget) return total;
  }
  return total;
}
