/**
 * A delivery id is unique within its run (`capabilities.uniqueDeliveryIds`). A World drafts
 * a warm append from what it cached of the run, which does not hold the run's delivery ids,
 * and several processes write one schema, so the store itself refuses a repeat: a table
 * keyed by (run_id, delivery_id) gets a row for every `hook_received` that carries a
 * `deliveryId`, in the transaction that logs it. The long way reads the holders of the
 * batch's ids under the run's lock, so its draft answers `DuplicateDeliveryError` first.
 *
 * The rows come from the events themselves, inside `append_batch`, rather than from new
 * parameters: the function keeps its signature, so grouped calls and the values
 * `postgres-batch.ts` sends are unchanged, and a World of the previous version, still
 * running during a rolling deploy, records its deliveries too. Finding them costs every
 * append a search of its batch's text for the key, and a parse only of a batch that has it.
 *
 * Events logged before this migration fill the table: the first delivery of each id in a
 * run keeps it, since an older log may already hold a repeat, which stays in the log as it
 * is. Only runs that have hooks are read. A delivery that a World of the previous version
 * commits while this migration runs, with the function body it started with, is not in the
 * table, so a repeat of it would be taken (as before this version, where replay takes a
 * delivery once per hook token). Locking the events for the scan would not close it (an
 * append already inside the old body would wait, then write with that body) and would
 * stall every append while the scan runs.
 */
export const uniqueDeliveryIdsSchema = String.raw`
CREATE TABLE {{schema}}.hook_deliveries (
  run_id text NOT NULL,
  delivery_id text NOT NULL,
  -- The hook that received it: what DuplicateDeliveryError names.
  hook_id text NOT NULL,
  PRIMARY KEY (run_id, delivery_id)
);

-- The delivery id and hook of a stored event, when it is a hook_received with an id; nulls
-- otherwise. The JSON operators refuse a whole document that holds an escaped NUL or half
-- a surrogate pair anywhere (a payload may hold either), so those escapes become U+FFFD
-- first: an id holds neither, and a backslash that is itself escaped is left alone. The
-- patterns are escape strings, so they read the same whatever standard_conforming_strings is.
CREATE FUNCTION {{schema}}.delivery_of(p_event json, OUT delivery_id text, OUT hook_id text)
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  v_event json;
BEGIN
  IF strpos(p_event::text, '"deliveryId"') = 0 THEN
    RETURN;
  END IF;
  v_event := regexp_replace(p_event::text, E'(?<!\\\\)((?:\\\\\\\\)*)\\\\u(?:0000|[dD][89a-fA-F][0-9a-fA-F]{2})',
    E'\\1\\\\ufffd', 'g')::json;
  IF v_event->>'eventType' = 'hook_received' THEN
    delivery_id := v_event->'eventData'->>'deliveryId';
    hook_id := v_event->>'correlationId';
  END IF;
END
$$;

INSERT INTO {{schema}}.hook_deliveries (run_id, delivery_id, hook_id)
SELECT DISTINCT ON (e.run_id, d.delivery_id) e.run_id, d.delivery_id, d.hook_id
FROM {{schema}}.events e, {{schema}}.delivery_of(e.body) AS d
WHERE e.run_id IN (SELECT run_id FROM {{schema}}.hooks) AND d.delivery_id IS NOT NULL
ORDER BY e.run_id, d.delivery_id, e.seq;

-- Migration 7's append_batch, which now also records the batch's delivery ids.
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
) RETURNS boolean[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_claims boolean[] := '{}';
  v_payloads json[];
  v_stream text;
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
