/**
 * `append_batch` plans each of its statements once per connection. PL/pgSQL prepares a
 * function's statements once per connection, and PostgreSQL then chooses, call by call,
 * between a plan for the call's own values and one generic plan. The statements that pair
 * an array's elements with a JSON array's elements by ordinality looked dearer as generic
 * plans than the gain from not planning, so every append planned them again: about a fifth
 * of the backend's time in the function, for an append that writes a handful of rows.
 *
 * The function now runs with `plan_cache_mode = force_generic_plan`, which holds only
 * while it runs (and in the queue functions it calls). Generic plans cannot see how many
 * elements an array holds, so no statement may depend on that for its access path. The
 * inserts read no table: their generic plans are merge joins of the arrays on ordinality,
 * which scale with the batch. The updates of existing hooks, steps and waits did read one:
 * joined to the arrays, their generic plan scanned every row of the run and hashed it,
 * whatever the batch held, which would make a step's append grow with the run. Each now
 * updates one row at a time by its whole primary key, a lookup whatever the plan.
 *
 * Same signature and the same writes as migration 9's body, so a World of the previous
 * version calls this one too. Migration 3's function, with fewer parameters, stays as it was.
 */
export const genericAppendPlansFunction = `
CREATE OR REPLACE FUNCTION {{schema}}.append_batch(
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
) RETURNS boolean[] LANGUAGE plpgsql VOLATILE
SET plan_cache_mode = force_generic_plan AS $$
DECLARE
  v_claims boolean[] := '{}';
  v_payloads json[];
  v_stream text;
  v_body json;
  v_body_with_error json;
  v_n integer;
BEGIN
  -- The fence is the run's own update: it takes the row's lock, checks the tail and writes
  -- the run's new state at once, where a separate locking read logged a lock record and
  -- cost a statement on every append.
  IF p_expected_last_seq IS NOT NULL THEN
    UPDATE {{schema}}.runs SET status = p_status, updated_at = p_updated_at, last_seq = p_last_seq,
      body = p_run, input_seq = p_run_input_seq, outcome_seq = p_run_outcome_seq
    WHERE run_id = p_run_id AND last_seq = p_expected_last_seq;
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
  -- Rows that exist are updated one at a time by their whole key: a generic plan of one
  -- update joined to the arrays reads every row of the run and hashes them.
  IF cardinality(p_known_hook_ids) > 0 THEN
    FOR v_body, v_n IN SELECT b.body, b.n FROM json_array_elements(p_known_hooks) WITH ORDINALITY AS b(body, n) LOOP
      UPDATE {{schema}}.hooks SET active = p_known_hook_active[v_n], body = v_body,
        metadata_seq = CASE WHEN p_known_hook_metadata_in_event[v_n] THEN created_seq END
      WHERE run_id = p_run_id AND hook_id = p_known_hook_ids[v_n];
    END LOOP;
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

  -- The key refuses a delivery id the run already holds (unique_violation): the warm path
  -- reads that as a stale cache and goes the long way, whose prefetch names the holder.
  -- Inserted once the run's row is locked (by the fence above, or by the long way) and its
  -- events are in, so appends of one run meet at that lock, never on these rows.
  IF strpos(p_events::text, '"deliveryId"') > 0 THEN
    INSERT INTO {{schema}}.hook_deliveries (run_id, delivery_id, hook_id)
    SELECT p_run_id, d.delivery_id, d.hook_id
    FROM json_array_elements(p_events) AS e(body), {{schema}}.delivery_of(e.body) AS d
    WHERE d.delivery_id IS NOT NULL;
  END IF;

  IF p_expected_last_seq IS NULL THEN
    INSERT INTO {{schema}}.runs AS r
      (run_id, workflow_name, status, created_at, updated_at, last_seq, body, input_seq, outcome_seq)
    VALUES (p_run_id, p_workflow_name, p_status, p_run_created_at, p_updated_at, p_last_seq, p_run,
      p_run_input_seq, p_run_outcome_seq)
    ON CONFLICT (run_id) DO UPDATE SET status = EXCLUDED.status, updated_at = EXCLUDED.updated_at,
      last_seq = EXCLUDED.last_seq, body = EXCLUDED.body, input_seq = EXCLUDED.input_seq,
      outcome_seq = EXCLUDED.outcome_seq;
  END IF;

  IF cardinality(p_new_step_ids) > 0 THEN
    INSERT INTO {{schema}}.steps (run_id, step_id, created_seq, body, input_seq, output_seq, error_seq)
    SELECT p_run_id, u.step_id, u.created_seq, b.body, CASE WHEN u.input_in_event THEN u.created_seq END,
      u.output_seq, u.error_seq
    FROM unnest(p_new_step_ids, p_new_step_seqs, p_new_step_input_in_event, p_new_step_output_seqs, p_new_step_error_seqs)
      WITH ORDINALITY AS u(step_id, created_seq, input_in_event, output_seq, error_seq, n)
    JOIN json_array_elements(p_new_steps) WITH ORDINALITY AS b(body, n) USING (n);
  END IF;
  IF cardinality(p_known_step_ids) > 0 THEN
    FOR v_body, v_body_with_error, v_n IN
      SELECT b.body, w.body, b.n
      FROM json_array_elements(p_known_steps) WITH ORDINALITY AS b(body, n)
      JOIN json_array_elements(p_known_steps_with_error) WITH ORDINALITY AS w(body, n) USING (n)
    LOOP
      UPDATE {{schema}}.steps
      SET body = CASE WHEN json_typeof(v_body_with_error) <> 'null' AND error_seq IS NULL
                   THEN v_body_with_error ELSE v_body END,
        input_seq = CASE WHEN p_known_step_input_in_event[v_n] THEN created_seq END,
        output_seq = p_known_step_output_seqs[v_n],
        error_seq = coalesce(p_known_step_error_seqs[v_n],
          CASE WHEN json_typeof(v_body_with_error) <> 'null' THEN error_seq END)
      WHERE run_id = p_run_id AND step_id = p_known_step_ids[v_n];
    END LOOP;
  END IF;
  IF cardinality(p_new_wait_ids) > 0 THEN
    INSERT INTO {{schema}}.waits (run_id, wait_id, created_seq, body)
    SELECT p_run_id, u.wait_id, u.created_seq, b.body
    FROM unnest(p_new_wait_ids, p_new_wait_seqs) WITH ORDINALITY AS u(wait_id, created_seq, n)
    JOIN json_array_elements(p_new_waits) WITH ORDINALITY AS b(body, n) USING (n);
  END IF;
  IF cardinality(p_known_wait_ids) > 0 THEN
    FOR v_body, v_n IN SELECT b.body, b.n FROM json_array_elements(p_known_waits) WITH ORDINALITY AS b(body, n) LOOP
      UPDATE {{schema}}.waits SET body = v_body WHERE run_id = p_run_id AND wait_id = p_known_wait_ids[v_n];
    END LOOP;
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
