/**
 * The initial schema. `{{schema}}` is replaced by the quoted schema name. Entities keep their
 * full JSON view in `body` (exactly what the API returns) plus the few columns that are
 * filtered, ordered or constrained on. JSON is stored as `json`, not `jsonb`: it keeps the
 * text exactly as written (key order, escapes such as \u0000 that jsonb rejects).
 */
export const initialSchema = `
CREATE FUNCTION {{schema}}.now_ms() RETURNS bigint LANGUAGE sql VOLATILE
  AS $$ SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint $$;

CREATE TABLE {{schema}}.runs (
  run_id text PRIMARY KEY,
  -- Creation order for newest-first paging; a cursor is a position in it.
  created_order bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  workflow_name text NOT NULL,
  status text NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  last_seq integer NOT NULL,
  body json NOT NULL
);
CREATE INDEX runs_status_order ON {{schema}}.runs (status, created_order DESC);
CREATE INDEX runs_workflow_order ON {{schema}}.runs (workflow_name, created_order DESC);

-- No sequence allocates seq: it is last_seq + 1 under the run's row lock, so it is dense
-- (a sequence would leave gaps on rollback).
CREATE TABLE {{schema}}.events (
  run_id text NOT NULL,
  seq integer NOT NULL,
  created_at bigint NOT NULL,
  body json NOT NULL,
  PRIMARY KEY (run_id, seq)
);
-- asOfTimestamp resolves "last event with created_at < T" in O(log n); created_at never
-- decreases within a run, so this order is also seq order.
CREATE INDEX events_created_at ON {{schema}}.events (run_id, created_at, seq);

CREATE TABLE {{schema}}.steps (
  run_id text NOT NULL,
  step_id text NOT NULL,
  -- seq of the step_created event: creation order for paging.
  created_seq integer NOT NULL,
  body json NOT NULL,
  PRIMARY KEY (run_id, step_id),
  UNIQUE (run_id, created_seq)
);

CREATE TABLE {{schema}}.hooks (
  run_id text NOT NULL,
  hook_id text NOT NULL,
  created_seq integer NOT NULL,
  token text NOT NULL,
  active boolean NOT NULL,
  body json NOT NULL,
  PRIMARY KEY (run_id, hook_id),
  UNIQUE (run_id, created_seq)
);
-- Tokens are unique among live hooks across runs. RunDraft checks it against prefetched
-- holders; this index is the backstop for two runs claiming one token at the same moment.
CREATE UNIQUE INDEX hooks_live_token ON {{schema}}.hooks (token) WHERE active;

CREATE TABLE {{schema}}.waits (
  run_id text NOT NULL,
  wait_id text NOT NULL,
  created_seq integer NOT NULL,
  body json NOT NULL,
  PRIMARY KEY (run_id, wait_id),
  UNIQUE (run_id, created_seq)
);

CREATE TABLE {{schema}}.queue_messages (
  message_id text PRIMARY KEY,
  -- Send order: FIFO within a group.
  send_order bigint GENERATED ALWAYS AS IDENTITY,
  topic text NOT NULL,
  payload json NOT NULL,
  group_key text,
  idempotency_key text,
  enqueued_at bigint NOT NULL,
  -- Not deliverable before this. A lease pushes it past the lease's expiry (plus backoff),
  -- so a leased message is invisible until it is settled or its lease runs out.
  deliver_at bigint NOT NULL,
  -- The attempt number the next delivery carries.
  attempt integer NOT NULL DEFAULT 1,
  lease_token text,
  lease_expires_at bigint,
  -- Set instead of deleting when an idempotency key must keep deduplicating.
  acked_at bigint
);
CREATE UNIQUE INDEX queue_messages_idempotency ON {{schema}}.queue_messages (topic, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
CREATE INDEX queue_messages_due ON {{schema}}.queue_messages (topic, deliver_at, send_order) WHERE acked_at IS NULL;
CREATE INDEX queue_messages_group ON {{schema}}.queue_messages (topic, group_key, send_order)
  WHERE acked_at IS NULL AND group_key IS NOT NULL;
CREATE INDEX queue_messages_acked ON {{schema}}.queue_messages (acked_at) WHERE acked_at IS NOT NULL;

-- One row per group with a message in flight: the lock that makes group exclusivity hold
-- across processes. Claimed with INSERT ... ON CONFLICT DO UPDATE WHERE <lease expired>.
CREATE TABLE {{schema}}.queue_groups (
  topic text NOT NULL,
  group_key text NOT NULL,
  message_id text NOT NULL,
  lease_token text NOT NULL,
  lease_expires_at bigint NOT NULL,
  PRIMARY KEY (topic, group_key)
);

CREATE TABLE {{schema}}.streams (
  -- The foreign key makes "write to a run that does not exist" fail atomically. It takes
  -- only a KEY SHARE lock on the run row, which does not block appends.
  run_id text NOT NULL REFERENCES {{schema}}.runs (run_id),
  name text NOT NULL,
  created_order bigint GENERATED ALWAYS AS IDENTITY,
  chunk_count integer NOT NULL,
  closed boolean NOT NULL,
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL,
  PRIMARY KEY (run_id, name)
);

CREATE TABLE {{schema}}.stream_chunks (
  run_id text NOT NULL,
  name text NOT NULL,
  chunk_index integer NOT NULL,
  -- Text chunks are stored as UTF-8 bytes too; the flag gives the type back on read.
  is_text boolean NOT NULL,
  data bytea NOT NULL,
  created_at bigint NOT NULL,
  -- A writer that may run twice (a retried step) passes a key, so its chunk lands once.
  idempotency_key text,
  PRIMARY KEY (run_id, name, chunk_index)
);
CREATE UNIQUE INDEX stream_chunks_idempotency ON {{schema}}.stream_chunks (run_id, name, idempotency_key)
  WHERE idempotency_key IS NOT NULL;
`;
