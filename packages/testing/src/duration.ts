import { InvalidInputError } from '@cairn/core/world';

const unitMs: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** A duration as a whole number of milliseconds ≥ 0, or text such as `'500ms'`, `'90s'`, `'2d'`, `'1.5h'`. */
export type Duration = number | string;

/** Milliseconds in `value`; throws `InvalidInputError` naming `field` for anything else. */
export function toMilliseconds(value: Duration, field: string): number {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= 0) return value;
  } else if (typeof value === 'string') {
    const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/.exec(value);
    if (match) return Math.round(Number(match[1]) * unitMs[match[2]!]!);
  }
  throw new InvalidInputError({
    field,
    value,
    reason: "must be a whole number of milliseconds ≥ 0, or a duration such as '500ms', '90s', '2h', '30d'",
  });
}
