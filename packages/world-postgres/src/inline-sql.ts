/*
 * The fenced append sends its statements as two multi-statement simple queries (BEGIN,
 * lock, prefetch; then writes and COMMIT) instead of five round trips. The simple query
 * protocol carries no parameters, so values are written into the text as literals here.
 * Every value becomes a quoted literal of unknown type, which PostgreSQL resolves from
 * context exactly as it resolves an untyped parameter; the statements cast where a type
 * could be ambiguous.
 */

type Scalar = string | number | boolean | null | undefined;
export type InlineValue = Scalar | readonly Scalar[];

function scalarText(value: Exclude<Scalar, null | undefined>): string {
  if (typeof value === 'number' && !Number.isFinite(value)) {
    throw new TypeError(`cannot write the number ${value} into SQL`);
  }
  return String(value);
}

/** PostgreSQL's array input syntax: every element double-quoted, so no element is misread. */
function arrayText(values: readonly Scalar[]): string {
  const elements = values.map((value) =>
    value === null || value === undefined ? 'NULL' : `"${scalarText(value).replace(/["\\]/g, '\\$&')}"`,
  );
  return `{${elements.join(',')}}`;
}

/**
 * A string constant for `text`: quotes doubled, and when it holds a backslash, an escape
 * string (`E'...'`) with backslashes doubled, as pg's `escapeLiteral` writes it. Built with
 * two whole-string replaces rather than a character loop, which cost a millisecond per
 * 100 KB of JSON on every append that carried it.
 */
function quoteLiteral(text: string): string {
  const quoted = text.replace(/'/g, "''");
  return text.includes('\\') ? ` E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`;
}

export function literal(value: InlineValue): string {
  if (value === null || value === undefined) return 'NULL';
  return quoteLiteral(Array.isArray(value) ? arrayText(value) : scalarText(value as Exclude<Scalar, null | undefined>));
}

/** `sql` with `$1`, `$2`, … replaced by the values as literals. The statements hold no other `$`. */
export function inlineParameters(sql: string, values: readonly InlineValue[]): string {
  return sql.replace(/\$(\d+)/g, (_, position: string) => {
    const index = Number(position) - 1;
    if (index < 0 || index >= values.length) throw new RangeError(`no value for $${position}`);
    return literal(values[index]!);
  });
}
