import { InvalidInputError } from '../world/errors/invalid-input-error.js';

const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `1500`, `'500ms'`, `'30s'`, `'5m'`, `'2h'`, `'2d'`, `'1w'` → milliseconds. */
export function parseDuration(value: number | string, field: string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return Math.floor(value);
    throw new InvalidInputError({ field, value, reason: 'must be a finite, non-negative number of milliseconds' });
  }
  const match = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(value) : null;
  if (!match) {
    throw new InvalidInputError({
      field,
      value,
      reason: "must be milliseconds or a duration such as '500ms', '30s', '5m', '2h', '2d'",
    });
  }
  return Math.floor(Number(match[1]) * units[match[2]!]!);
}
