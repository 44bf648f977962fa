import { genericAppendPlansFunction } from './0010-generic-append-plans.js';

/**
 * An append's notification wakes watchers; it carries no data they could not read. A World
 * hands its own appends to its own watchers without it, so a run that only one World
 * writes and watches (a client that starts a run and waits for it in the process that runs
 * it, the embedded default) does not need one. Sending it anyway cost every lone append
 * the server's notification queue, a signal to each listening session, and a wake-up of
 * the World's own LISTEN connection with nothing new to say: about 5% of a step's time in
 * a sequential run on the test machine.
 *
 * Each run row now says who would miss a notification, in `watcher`:
 * - the id of the one World (the one that created the run) that alone has written and
 *   watched it, so that World's appends need not announce themselves;
 * - `'*'` once any other World has written to it or read its tail to watch it (sticky:
 *   from then on every append notifies, as before);
 * - NULL for runs created before this migration or by a caller that names no World, which
 *   notify always.
 *
 * `append_batch` takes the appending World's id as a new last argument. The run's own
 * update (the fence, or the creation) sets `watcher` under the row lock, so an append
 * decides from the row as it commits: any other World that registered before it is seen,
 * and one that registers after it reads the tail this append wrote. It skips its NOTIFY
 * only when the row names it as the one watcher. A World reading a tail to watch it marks
 * the row `'*'` in the same statement (postgres-event-log.ts).
 *
 * The function of the previous version (62 arguments) stays callable and now calls this
 * one naming no World, so a World of that version still notifies every append and marks
 * every run it writes as watched by others.
 */

const previous = genericAppendPlansFunction;

/** Replaces `from` with `to` in the previous function's text, which must hold it exactly once. */
function edit(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) {
    throw new Error(`migration 11: the previous append_batch must hold exactly one ${JSON.stringify(from)}`);
  }
  return text.slice(0, at) + to + text.slice(at + from.length);
}

const parametersStart = previous.indexOf('append_batch(') + 'append_batch('.length;
const parametersEnd = previous.indexOf(') RETURNS boolean[]');
const previousParameters = previous.slice(parametersStart, parametersEnd);
const previousCount = previousParameters.split(',').length;

let appendBatch = edit(previous, previousParameters, `${previousParameters.trimEnd()},\n  p_appender text\n`);
appendBatch = edit(appendBatch, '  v_n integer;\n', '  v_n integer;\n  v_watcher text;\n');
// The fence: the row's lock, its check and its new state, and now who watches it.
appendBatch = edit(
  appendBatch,
  `      body = p_run, input_seq = p_run_input_seq, outcome_seq = p_run_outcome_seq
    WHERE run_id = p_run_id AND last_seq = p_expected_last_seq;`,
  `      body = p_run, input_seq = p_run_input_seq, outcome_seq = p_run_outcome_seq,
      watcher = CASE WHEN watcher = p_appender THEN watcher ELSE '*' END
    WHERE run_id = p_run_id AND last_seq = p_expected_last_seq
    RETURNING watcher INTO v_watcher;`,
);
// The creation: its creator is the one watcher, until another World writes or watches.
appendBatch = edit(
  appendBatch,
  `      (run_id, workflow_name, status, created_at, updated_at, last_seq, body, input_seq, outcome_seq)
    VALUES (p_run_id, p_workflow_name, p_status, p_run_created_at, p_updated_at, p_last_seq, p_run,
      p_run_input_seq, p_run_outcome_seq)`,
  `      (run_id, workflow_name, status, created_at, updated_at, last_seq, body, input_seq, outcome_seq, watcher)
    VALUES (p_run_id, p_workflow_name, p_status, p_run_created_at, p_updated_at, p_last_seq, p_run,
      p_run_input_seq, p_run_outcome_seq, p_appender)`,
);
appendBatch = edit(
  appendBatch,
  `      outcome_seq = EXCLUDED.outcome_seq;`,
  `      outcome_seq = EXCLUDED.outcome_seq,
      watcher = CASE WHEN r.watcher = EXCLUDED.watcher THEN r.watcher ELSE '*' END
    RETURNING watcher INTO v_watcher;`,
);
appendBatch = edit(
  appendBatch,
  '  IF p_notification IS NOT NULL THEN\n',
  `  -- Unless the row names this World as the run's one watcher: it tells its own watchers.
  IF p_notification IS NOT NULL AND NOT coalesce(v_watcher = p_appender, false) THEN\n`,
);

/** Migration 10's signature, now a call of the function above that names no World. */
const previousSignature = `
CREATE OR REPLACE FUNCTION {{schema}}.append_batch(${previousParameters}) RETURNS boolean[] LANGUAGE sql VOLATILE AS $$
  SELECT {{schema}}.append_batch(${Array.from({ length: previousCount }, (_, index) => `$${index + 1}`).join(', ')}, NULL::text)
$$;
`;

export const unannouncedOwnAppendsSchema = `
ALTER TABLE {{schema}}.runs ADD COLUMN watcher text;
${appendBatch}
${previousSignature}
`;
