import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inlineParameters, literal } from '../src/inline-sql.js';
import { connectionString } from './helpers.js';

// The append writes values into its SQL text, so every awkward value must come back from
// a real server exactly as it went in.
describe('inlineParameters', () => {
  const client = new pg.Client({ connectionString });
  beforeAll(() => client.connect());
  afterAll(() => client.end());

  const awkward = [
    "it's",
    'back\\slash',
    'quote " inside',
    '{braces,and,commas}',
    'NULL',
    '',
    'multi\nline\ttabs',
    'ünïcödé ✓ 𝄞',
    '$1 and $2',
    "quote then backslash '\\ and backslash then quote \\'",
    "E'not an escape string'",
  ];

  it('round-trips strings with quotes, backslashes, braces, dollar signs and unicode', async () => {
    for (const value of awkward) {
      const { rows } = await client.query(inlineParameters('SELECT $1::text AS value', [value]));
      expect(rows[0].value).toBe(value);
    }
  });

  it("quotes every value exactly as the driver's own escaping does", async () => {
    const { escapeLiteral } = pg;
    for (const value of [...awkward, '\\', "'", "''\\\\''"]) expect(literal(value)).toBe(escapeLiteral(value));
    // A large document comes back whole.
    const document = JSON.stringify({
      items: Array.from({ length: 5000 }, (_, index) => ({ index, text: `it's \\ ${index}` })),
    });
    const { rows } = await client.query(inlineParameters('SELECT $1::text AS value', [document]));
    expect(rows[0].value).toBe(document);
  });

  it('round-trips text, json and number arrays, including empty ones and NULL elements', async () => {
    const { rows } = await client.query(
      inlineParameters('SELECT $1::text[] AS texts, $2::json[] AS docs, $3::bigint[] AS numbers, $4::text[] AS empty', [
        [...awkward, null],
        [JSON.stringify({ quote: '"', backslash: '\\', text: "it's" })],
        [1, 1_795_392_094_124],
        [],
      ]),
    );
    expect(rows[0].texts).toEqual([...awkward, null]);
    expect(rows[0].docs).toEqual([{ quote: '"', backslash: '\\', text: "it's" }]);
    expect(rows[0].numbers).toEqual(['1', '1795392094124']);
    expect(rows[0].empty).toEqual([]);
  });

  it('writes null, booleans and numbers', async () => {
    const { rows } = await client.query(
      inlineParameters('SELECT $1::text AS missing, $2::boolean AS yes, $3::float8 AS fraction, $4::int AS whole', [
        null,
        true,
        0.25,
        -7,
      ]),
    );
    expect(rows[0]).toEqual({ missing: null, yes: true, fraction: 0.25, whole: -7 });
  });

  it('refuses numbers SQL cannot hold, and placeholders without a value', () => {
    expect(() => literal(Number.NaN)).toThrow(TypeError);
    expect(() => literal(Number.POSITIVE_INFINITY)).toThrow(TypeError);
    expect(() => inlineParameters('SELECT $2', ['only one'])).toThrow(RangeError);
  });
});
