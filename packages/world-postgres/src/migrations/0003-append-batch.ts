/**
 * An append as one function call. Sent as text, an append's statements (BEGIN, the guards,
 * the writes, the queue's statements, COMMIT) were parsed, analysed and planned on every
 * call: about half a millisecond of the database's time per append, more than executing
 * them. Called as one prepared statement with bound values, the function is parsed once per
 * connection and its statements keep their plans, and the append is still one round trip:
 * a single statement is its own transaction.
 *
 * The queue's send, claimed send and acknowledgement live here too, as functions the
 * append calls for its outbox and the queue calls for its own sends and acks, so each rule
 * is written once. `p_now` is an injected clock's reading, or null for the database's
 * clock; leases are always judged on the database's clock.
 */
export const appendBatchFunctions = `
CREATE FUNCTION {{schema}}.queue_send(
  p_message_id text, p_topic text, p_payload json, p_group_key text, p_idempotency_key text,
  p_delay_ms bigint, p_retention_ms bigint, p_channel text, p_notification text, p_now bigint
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_now bigint := coalesce(p_now, {{schema}}.now_ms());
BEGIN
  -- A key whose message was acknowledged longer ago than the retention is free again.
  INSERT INTO {{schema}}.queue_messages AS m
    (message_id, topic, payload, group_key, idempotency_key, enqueued_at, deliver_at)
  VALUES (p_message_id, p_topic, p_payload, p_group_key, p_idempotency_key, v_now, v_now + p_delay_ms)
  ON CONFLICT (topic, idempotency_key) WHERE idempotency_key IS NOT NULL DO UPDATE SET
    message_id = EXCLUDED.message_id, send_order = DEFAULT, payload = EXCLUDED.payload,
    group_key = EXCLUDED.group_key, enqueued_at = EXCLUDED.enqueued_at, deliver_at = EXCLUDED.deliver_at,
    attempt = 1, lease_token = NULL, lease_expires_at = NULL, acked_at = NULL
  WHERE m.acked_at IS NOT NULL AND m.acked_at < EXCLUDED.enqueued_at - p_retention_ms;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM pg_notify(p_channel, p_notification);
  RETURN true;
END
$$;

-- Born leased: inserted as a consumer's lease would leave it (attempt already bumped,
-- deliver_at past the lease plus the first backoff step), its group claimed under the same
-- token. A group a live lease holds is not taken; the message then waits, unleased, for
-- that lease's settlement, which wakes consumers when its group has more waiting.
CREATE FUNCTION {{schema}}.queue_send_claimed(
  p_message_id text, p_topic text, p_payload json, p_group_key text, p_token text,
  p_lease_ms bigint, p_backoff_ms bigint, p_now bigint
) RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_now bigint := coalesce(p_now, {{schema}}.now_ms());
  v_lease_now bigint := {{schema}}.now_ms();
  v_held boolean := true;
BEGIN
  IF p_group_key IS NOT NULL THEN
    INSERT INTO {{schema}}.queue_groups AS g (topic, group_key, message_id, lease_token, lease_expires_at)
    VALUES (p_topic, p_group_key, p_message_id, p_token, v_lease_now + p_lease_ms)
    ON CONFLICT (topic, group_key) DO UPDATE SET message_id = EXCLUDED.message_id,
      lease_token = EXCLUDED.lease_token, lease_expires_at = EXCLUDED.lease_expires_at
    WHERE g.lease_expires_at <= v_lease_now;
    v_held := FOUND;
  END IF;
  IF v_held THEN
    INSERT INTO {{schema}}.queue_messages
      (message_id, topic, payload, group_key, enqueued_at, deliver_at, attempt, lease_token, lease_expires_at)
    VALUES (p_message_id, p_topic, p_payload, p_group_key, v_now, v_now + p_lease_ms + p_backoff_ms, 2,
      p_token, v_lease_now + p_lease_ms);
  ELSE
    INSERT INTO {{schema}}.queue_messages (message_id, topic, payload, group_key, enqueued_at, deliver_at)
    VALUES (p_message_id, p_topic, p_payload, p_group_key, v_now, v_now);
  END IF;
  RETURN v_held;
END
$$;

-- Deletes the message, or keeps it as acknowledged while its idempotency key must still
-- deduplicate; only under a live lease with this token. Releases the group row this lease
-- holds, and wakes consumers only when another message of the group is waiting (nothing
-- else can be waiting on an acknowledgement). Answers how many messages it settled.
CREATE FUNCTION {{schema}}.queue_ack(
  p_message_id text, p_token text, p_topic text, p_group_key text, p_channel text, p_notification text,
  p_now bigint
) RETURNS integer LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_lease_now bigint := {{schema}}.now_ms();
  v_settled integer;
BEGIN
  DELETE FROM {{schema}}.queue_messages
  WHERE message_id = p_message_id AND lease_token = p_token AND lease_expires_at > v_lease_now
    AND idempotency_key IS NULL;
  GET DIAGNOSTICS v_settled = ROW_COUNT;
  IF v_settled = 0 THEN
    UPDATE {{schema}}.queue_messages SET acked_at = coalesce(p_now, v_lease_now), lease_token = NULL,
      lease_expires_at = NULL, payload = 'null'
    WHERE message_id = p_message_id AND lease_token = p_token AND lease_expires_at > v_lease_now
      AND idempotency_key IS NOT NULL;
    GET DIAGNOSTICS v_settled = ROW_COUNT;
  END IF;
  DELETE FROM {{schema}}.queue_groups
  WHERE topic = p_topic AND group_key = p_group_key AND lease_token = p_token AND message_id = p_message_id;
  IF EXISTS (
    SELECT 1 FROM {{schema}}.queue_messages
    WHERE topic = p_topic AND group_key = p_group_key AND acked_at IS NULL AND message_id <> p_message_id
  ) THEN
    PERFORM pg_notify(p_channel, p_notification);
  END IF;
  RETURN v_settled;
END
$$;

-- The whole append after its draft: the two guards (a fence on the run's tail, taken with
-- the row lock; the proposed stamp within the clock's window, read after the lock), the
-- hooks, write_batch, the streams an ending run closes, the outbox and the claims it
-- acknowledges. A guard that fails raises division_by_zero, which the caller reads as
-- "the cached run was stale": the statement rolls back and the long way answers. A null
-- p_expected_last_seq skips the fence (a creation, or a caller that holds the lock); a
-- null p_created_at skips the clock check. Returns, per outbox message, whether its claim
-- holds (null for a message that asked none).
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
  p_ack_notifications text[]
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
    UPDATE {{schema}}.hooks AS h SET active = k.active, body = k.body
    FROM (SELECT u.hook_id, u.active, b.body
          FROM unnest(p_known_hook_ids, p_known_hook_active) WITH ORDINALITY AS u(hook_id, active, n)
          JOIN json_array_elements(p_known_hooks) WITH ORDINALITY AS b(body, n) USING (n)) AS k
    WHERE h.run_id = p_run_id AND h.hook_id = k.hook_id;
  END IF;
  IF cardinality(p_new_hook_ids) > 0 THEN
    INSERT INTO {{schema}}.hooks (run_id, hook_id, created_seq, token, active, body)
    SELECT p_run_id, u.hook_id, u.created_seq, u.token, u.active, b.body
    FROM unnest(p_new_hook_ids, p_new_hook_seqs, p_new_hook_tokens, p_new_hook_active)
      WITH ORDINALITY AS u(hook_id, created_seq, token, active, n)
    JOIN json_array_elements(p_new_hooks) WITH ORDINALITY AS b(body, n) USING (n);
  END IF;

  PERFORM {{schema}}.write_batch(p_run_id, p_seqs, p_created_ats, p_events,
    p_workflow_name, p_status, p_run_created_at, p_updated_at, p_last_seq, p_run,
    p_new_step_ids, p_new_step_seqs, p_new_steps, p_known_step_ids, p_known_steps,
    p_new_wait_ids, p_new_wait_seqs, p_new_waits, p_known_wait_ids, p_known_waits,
    p_channel, p_notification);

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
