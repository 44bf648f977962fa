/**
 * The notifications of appends that overlap others leave after their commits
 * (notification-publisher.ts): a transaction that sends NOTIFY holds a database-wide lock
 * through its commit's WAL flush, which kept concurrent appends from ever sharing a flush.
 * `queue_send` now notifies only when given a notification, as `append_batch` (migration 4)
 * does for the run's own: such an append passes none, and its World publishes them once it
 * has committed. A direct `queue.send` and a World of an earlier version still pass them,
 * and notify as before.
 */
export const notifyAfterCommitFunctions = `
CREATE OR REPLACE FUNCTION {{schema}}.queue_send(
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
  IF p_notification IS NOT NULL THEN
    PERFORM pg_notify(p_channel, p_notification);
  END IF;
  RETURN true;
END
$$;
`;
