/**
 * Each payload stored once, in the event that carries it. Until now a step's input was
 * written with its `step_created` event and again into the step's row on every change of
 * the step, its output with `step_completed` and again into the row, and the run's input
 * into the run's row on every append: a step with 10 KB in and out sent about 50 KB to
 * the database and its write-ahead log where 20 KB would do.
 *
 * From this version a row's `body` keeps such a field's key, in its place among the other
 * keys, with `null` in it, and a column names the seq of the event whose `eventData` holds
 * the value; reads join that event and put the value back (`stored-views.ts`), so the
 * views are exactly what they were. Payloads of a few dozen characters stay in the row,
 * where they cost no more than the reference would and no join.
 *
 * - runs: `input_seq`, the `run_created` event (`input` and `metadata`); `outcome_seq`,
 *   the event that ended the run (`output`, `error`, and `cancelReason` from `reason`).
 * - steps: `input_seq` (`step_created`), `output_seq` (`step_completed`), `error_seq`
 *   (the last `step_retrying` or `step_failed`).
 * - hooks: `metadata_seq` (`hook_created`).
 * Waits hold nothing larger than a time, and a run's `waiting` is rebuilt from its event
 * rather than copied, so both stay as they were.
 *
 * Rows written before this migration are left as they are: a null column means the body
 * holds that field itself. Rewriting every row here would hold this migration's lock while
 * every run, step and hook of the schema is rewritten, for bytes those rows already cost;
 * reads take both shapes instead, and an append that changes an old row writes it in the
 * new shape. Adding columns without a default changes only the catalog.
 *
 * `append_batch` gains the parameters that say where each field is stored. The function
 * of migration 3, with fewer parameters, stays: a World of the previous version calls it
 * until it is stopped, and writes rows of the old shape, which this version reads.
 */
export const payloadsOnceSchema = `
ALTER TABLE {{schema}}.runs ADD COLUMN input_seq integer, ADD COLUMN outcome_seq integer;
ALTER TABLE {{schema}}.steps ADD COLUMN input_seq integer, ADD COLUMN output_seq integer, ADD COLUMN error_seq integer;
ALTER TABLE {{schema}}.hooks ADD COLUMN metadata_seq integer;

-- Migration 3's append_batch, and eleven parameters at the end: the run's input_seq and
-- outcome_seq; per new and per known step whether its input is left to its event, its
-- output_seq and its error_seq; per hook whether its metadata is left to its event. An
-- input or metadata is always in the entity's creating event (created_seq), so a flag
-- says enough.
--
-- A known step's error may come from an event of an earlier append (a retry, then this
-- batch's start or completion), whose seq the caller does not know. The row knows it, or,
-- written before this migration, holds the error in its body. For such a step the caller
-- also sends the body with its error (p_known_steps_with_error; JSON null for every other
-- step) and the row keeps whichever matches its shape: the event is never looked up, as
-- reading a field out of stored JSON fails on any escaped NUL character in it.
CREATE FUNCTION {{schema}}.append_batch(
  p_expected_last_seq integer, p_created_at bigint, p_max_future_ms bigint, p_now bigint,
  p_run_id text, p_seqs integer[], p_created_ats bigint[], p_events json,
  p_workflow_name text, p_status text, p_run_created_at bigint, p_updated_at bigint, p_last_seq integer, p_run json,
  p_new_step_ids text[], p_new_step_seqs integer[], p_new_steps json,
  p_known_step_ids text[], p_known_steps json,
  p_new_wait_ids text[], p_new_wait_seqs integer[], p_new_waits json,
  p_known_wait_ids text[], p_known_waits json,
  p_channel text, p_notification text,
  p_known_hook_ids text[], p_known_hook_active boolean[], p_known_hooks json,
  p_new_hook_ids text[], p_new_hook_seqs integer[], p_new_hook_tokens text[], p_new_hook_active boolean[],
  p_new_hooks json,
  p_stream_notification_prefix text,
  p_message_ids text[], p_topics text[], p_payloads json, p_group_keys text[], p_idempotency_keys text[],
  p_delays bigint[], p_claim_tokens text[], p_claim_lease_ms bigint[], p_claim_backoff_ms bigint,
  p_retention_ms bigint, p_queue_notifications text[],
  p_ack_message_ids text[], p_ack_tokens text[], p_ack_topics text[], p_ack_group_keys text[],
  p_ack_notifications text[],
  p_run_input_seq integer, p_run_outcome_seq integer,
  p_new_step_input_in_event boolean[], p_new_step_output_seqs integer[], p_new_step_error_seqs integer[],
  p_known_step_input_in_event boolean[], p_known_step_output_seqs integer[], p_known_step_error_seqs integer[],
  p_known_steps_with_error json,
  p_new_hook_metadata_in_event boolean[], p_known_hook_metadata_in_event boolean[]
) RETURNS boolean[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_claims boolean[] := '{}';
  v_payloads json[];
  v_stream text;
BEGIN
  IF p_expected_last_seq IS NOT NULL THEN
    PERFORM 1 FROM {{schema}}.runs WHERE run_id = p_run_id AND last_seq = p_expected_last_seq FOR NO KEY UPDATE;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'the run''s tail moved' USING ERRCODE = 'division_by_zero';
    END IF;
  END IF;
  IF p_created_at IS NOT NULL AND NOT (
    p_created_at >= coalesce(p_now, {{schema}}.now_ms())
    AND (p_max_future_ms IS NULL OR p_created_at <= coalesce(p_now, {{schema}}.now_ms()) + p_max_future_ms)
  ) THEN
    RAISE EXCEPTION 'the proposed stamp is outside the clock''s window' USING ERRCODE = 'division_by_zero';
  END IF;

  -- Existing hooks first: a hook released here must leave the live-token index before a
  -- new hook of this batch claims the same token.
  IF cardinality(p_known_hook_ids) > 0 THEN
    UPDATE {{schema}}.hooks AS h SET active = k.active, body = k.body,
      metadata_seq = CASE WHEN k.metadata_in_event THEN h.created_seq END
    FROM (SELECT u.hook_id, u.active, u.metadata_in_event, b.body
          FROM unnest(p_known_hook_ids, p_known_hook_active, p_known_hook_metadata_in_event)
            WITH ORDINALITY AS u(hook_id, active, metadata_in_event, n)
          JOIN json_array_elements(p_known_hooks) WITH ORDINALITY AS b(body, n) USING (n)) AS k
    WHERE h.run_id = p_run_id AND h.hook_id = k.hook_id;
  END IF;
  IF cardinality(p_new_hook_ids) > 0 THEN
    INSERT INTO {{schema}}.hooks (run_id, hook_id, created_seq, token, active, body, metadata_seq)
    SELECT p_run_id, u.hook_id, u.created_seq, u.token, u.active, b.body,
      CASE WHEN u.metadata_in_event THEN u.created_seq END
    FROM unnest(p_new_hook_ids, p_new_hook_seqs, p_new_hook_tokens, p_new_hook_active, p_new_hook_metadata_in_event)
      WITH ORDINALITY AS u(hook_id, created_seq, token, active, metadata_in_event, n)
    JOIN json_array_elements(p_new_hooks) WITH ORDINALITY AS b(body, n) USING (n);
  END IF;

  INSERT INTO {{schema}}.events (run_id, seq, created_at, body)
  SELECT p_run_id, u.seq, u.created_at, b.body
  FROM unnest(p_seqs, p_created_ats) WITH ORDINALITY AS u(seq, created_at, n)
  JOIN json_array_elements(p_events) WITH ORDINALITY AS b(body, n) USING (n);

  INSERT INTO {{schema}}.runs AS r
    (run_id, workflow_name, status, created_at, updated_at, last_seq, body, input_seq, outcome_seq)
  VALUES (p_run_id, p_workflow_name, p_status, p_run_created_at, p_updated_at, p_last_seq, p_run,
    p_run_input_seq, p_run_outcome_seq)
  ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at,
    last_seq = EXCLUDED.last_seq, body = EXCLUDED.body, input_seq = EXCLUDED.input_seq,
    outcome_seq = EXCLUDED.outcome_seq;

  IF cardinality(p_new_step_ids) > 0 THEN
    INSERT INTO {{schema}}.steps (run_id, step_id, created_seq, body, input_seq, output_seq, error_seq)
    SELECT p_run_id, u.step_id, u.created_seq, b.body, CASE WHEN u.input_in_event THEN u.created_seq END,
      u.output_seq, u.error_seq
    FROM unnest(p_new_step_ids, p_new_step_seqs, p_new_step_input_in_event, p_new_step_output_seqs, p_new_step_error_seqs)
      WITH ORDINALITY AS u(step_id, created_seq, input_in_event, output_seq, error_seq, n)
    JOIN json_array_elements(p_new_steps) WITH ORDINALITY AS b(body, n) USING (n);
  END IF;
  IF cardinality(p_known_step_ids) > 0 THEN
    UPDATE {{schema}}.steps AS s
    SET body = CASE WHEN json_typeof(k.body_with_error) <> 'null' AND s.error_seq IS NULL
                 THEN k.body_with_error ELSE k.body END,
      input_seq = CASE WHEN k.input_in_event THEN s.created_seq END,
      output_seq = k.output_seq,
      error_seq = coalesce(k.error_seq, CASE WHEN json_typeof(k.body_with_error) <> 'null' THEN s.error_seq END)
    FROM (SELECT u.step_id, u.input_in_event, u.output_seq, u.error_seq, b.body, w.body AS body_with_error
          FROM unnest(p_known_step_ids, p_known_step_input_in_event, p_known_step_output_seqs, p_known_step_error_seqs)
            WITH ORDINALITY AS u(step_id, input_in_event, output_seq, error_seq, n)
          JOIN json_array_elements(p_known_steps) WITH ORDINALITY AS b(body, n) USING (n)
          JOIN json_array_elements(p_known_steps_with_error) WITH ORDINALITY AS w(body, n) USING (n)) AS k
    WHERE s.run_id = p_run_id AND s.step_id = k.step_id;
  END IF;
  IF cardinality(p_new_wait_ids) > 0 THEN
    INSERT INTO {{schema}}.waits (run_id, wait_id, created_seq, body)
    SELECT p_run_id, u.wait_id, u.created_seq, b.body
    FROM unnest(p_new_wait_ids, p_new_wait_seqs) WITH ORDINALITY AS u(wait_id, created_seq, n)
    JOIN json_array_elements(p_new_waits) WITH ORDINALITY AS b(body, n) USING (n);
  END IF;
  IF cardinality(p_known_wait_ids) > 0 THEN
    UPDATE {{schema}}.waits AS w SET body = k.body
    FROM (SELECT u.wait_id, b.body
          FROM unnest(p_known_wait_ids) WITH ORDINALITY AS u(wait_id, n)
          JOIN json_array_elements(p_known_waits) WITH ORDINALITY AS b(body, n) USING (n)) AS k
    WHERE w.run_id = p_run_id AND w.wait_id = k.wait_id;
  END IF;

  -- Delivered only if the transaction commits. A caller may leave it out, to publish it
  -- after the commit instead (see migration 5).
  IF p_notification IS NOT NULL THEN
    PERFORM pg_notify(p_channel, p_notification);
  END IF;

  IF p_stream_notification_prefix IS NOT NULL THEN
    FOR v_stream IN
      UPDATE {{schema}}.streams SET closed = true, updated_at = p_updated_at
      WHERE run_id = p_run_id AND NOT closed RETURNING name
    LOOP
      PERFORM pg_notify(p_channel, p_stream_notification_prefix || v_stream);
    END LOOP;
  END IF;

  IF cardinality(p_message_ids) > 0 THEN
    SELECT array_agg(e.payload ORDER BY e.n) INTO v_payloads
    FROM json_array_elements(p_payloads) WITH ORDINALITY AS e(payload, n);
    FOR i IN 1 .. cardinality(p_message_ids) LOOP
      IF p_claim_tokens[i] IS NOT NULL THEN
        v_claims := v_claims || {{schema}}.queue_send_claimed(p_message_ids[i], p_topics[i], v_payloads[i],
          p_group_keys[i], p_claim_tokens[i], p_claim_lease_ms[i], p_claim_backoff_ms, p_now);
      ELSE
        PERFORM {{schema}}.queue_send(p_message_ids[i], p_topics[i], v_payloads[i], p_group_keys[i],
          p_idempotency_keys[i], p_delays[i], p_retention_ms, p_channel, p_queue_notifications[i], p_now);
        v_claims := v_claims || NULL::boolean;
      END IF;
    END LOOP;
  END IF;

  IF cardinality(p_ack_message_ids) > 0 THEN
    FOR i IN 1 .. cardinality(p_ack_message_ids) LOOP
      PERFORM {{schema}}.queue_ack(p_ack_message_ids[i], p_ack_tokens[i], p_ack_topics[i], p_ack_group_keys[i],
        p_channel, p_ack_notifications[i], p_now);
    END LOOP;
  END IF;
  RETURN v_claims;
END
$$;
`;
