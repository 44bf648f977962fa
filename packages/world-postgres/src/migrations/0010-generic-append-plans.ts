/**
 * `append_batch` keeps one plan per statement for the life of a connection. PL/pgSQL
 * prepares each statement of a function once per connection, and then PostgreSQL chooses
 * between a plan built for the call's own values and one generic plan. The statements that
 * pair an array's elements with a JSON array's elements by ordinality cost more in the
 * generic plan's estimates than the gain it expects from not planning, so every append
 * was planned again, statement by statement: about a fifth of the database's CPU for a
 * warm append, which writes a handful of rows.
 *
 * The generic plans are merge joins on the ordinality and index lookups on the rows' keys,
 * so they scale with the batch like the planned ones (a batch of thousands of steps stays
 * a sort and a merge). The setting holds only while the function runs, and the queue
 * functions it calls inherit it; other statements of the connection plan as before.
 *
 * The previous function of migration 3, still called by a World of that version during a
 * rolling deploy, is left as it was.
 */
export const genericAppendPlansSchema = `
ALTER FUNCTION {{schema}}.append_batch(integer, bigint, bigint, bigint, text, integer[], bigint[], json, text,
  text, bigint, bigint, integer, json, text[], integer[], json, text[], json, text[], integer[], json, text[],
  json, text, text, text[], boolean[], json, text[], integer[], text[], boolean[], json, text, text[], text[],
  json, text[], text[], bigint[], text[], bigint[], bigint, bigint, text[], text[], text[], text[], text[],
  text[], integer, integer, boolean[], integer[], integer[], boolean[], integer[], integer[], json, boolean[],
  boolean[])
  SET plan_cache_mode = force_generic_plan;
`;
