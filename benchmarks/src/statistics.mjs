// Order statistics for the report. Nearest-rank percentiles: every figure is a sample
// that was actually observed, not an interpolation.

export function percentile(sorted, fraction) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.max(1, Math.ceil(fraction * sorted.length));
  return sorted[rank - 1];
}

export function summarize(samples) {
  const sorted = [...samples].sort((left, right) => left - right);
  return {
    n: sorted.length,
    median: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    min: sorted[0] ?? Number.NaN,
    max: sorted.at(-1) ?? Number.NaN,
  };
}

export const median = (samples) => summarize(samples).median;

/**
 * A ratio as text, in two decimals unless those would land on `limit` while the value is
 * not the limit: 1.004 commits a step against a limit of 1 reads "1.004×", so a verdict of
 * MISSED never sits beside a value that looks like the limit itself.
 */
export function ratioText(value, limit) {
  if (value === undefined || value === null || Number.isNaN(value)) return '–';
  let digits = 2;
  while (limit !== undefined && value !== limit && digits < 6 && value.toFixed(digits) === limit.toFixed(digits)) {
    digits++;
  }
  return `${value.toFixed(digits)}×`;
}
