import type { Tables } from './tables.js';

/*
 * The queue's statements. Every time in them is the database clock (now_ms()), so
 * processes with skewed clocks agree on what is due and what has expired. A World given an
 * injected clock (tests) reads that clock for stamps and due times (`nowMs`), but leases
 * stay on the database clock (`leaseNowMs`): a virtual jump of a month must not expire the
 * lease of a handler that is still working. A message is therefore leased only when it is
 * due *and* no live lease holds it; on the database clock the second condition follows
 * from the first.
 *
 * A lease is a visibility timeout: leasing moves deliver_at past the lease's expiry plus
 * the retry backoff and bumps attempt. A consumer that dies therefore needs no cleanup:
 * when its lease runs out the message simply becomes due again, same message id, attempt
 * + 1, after the backoff. Settling requires the lease token *and* an unexpired lease, so a
 * late settlement (after expiry, or after someone else leased the message) changes nothing.
 */

/** The lease clock as a column of the clock row: the same reading as `now` when both are the database's. */
const leaseNow = (t: Tables) => (t.nowMs === t.leaseNowMs ? 'now' : t.leaseNowMs);

export const findByIdempotencyKeySql = (t: Tables) =>
  `SELECT message_id FROM ${t.messages} WHERE topic = $1 AND idempotency_key = $2`;

/**
 * Leases up to $2 due messages of topic $1 with token $3 for $4 ms; $5..$7 are the
 * consumer's backoff (initial, factor, max), applied if the lease runs out.
 *
 * Group exclusivity: a grouped message is leased only together with its group's row in
 * queue_groups, claimed by INSERT ... ON CONFLICT DO UPDATE WHERE <the row's lease has
 * expired>. That upsert is atomic: of two consumers claiming one group at once, the second
 * waits on the row the first wrote, re-checks the condition against it, finds a live lease
 * and claims nothing, so its message stays unleased. The message update and the claim are
 * one statement, so they commit together. The row carries the message lease's expiry and
 * token, and only that token deletes it. The NOT EXISTS filters are only an optimisation
 * (do not pick messages whose group is busy, or that are not their group's oldest due
 * message): they read a snapshot and may be stale, and the claim is what decides.
 */
export const leaseSql = (t: Tables) => `
  WITH clock AS (SELECT now, ${leaseNow(t)} AS lease_now FROM (SELECT ${t.nowMs} AS now) AS stamp),
  candidates AS (
    SELECT m.message_id, m.group_key, m.deliver_at, m.attempt
    FROM ${t.messages} m
    WHERE m.topic = $1 AND m.acked_at IS NULL AND m.deliver_at <= (SELECT now FROM clock)
      AND (m.lease_expires_at IS NULL OR m.lease_expires_at <= (SELECT lease_now FROM clock))
      AND (m.group_key IS NULL OR (
        NOT EXISTS (
          SELECT 1 FROM ${t.groups} g
          WHERE g.topic = m.topic AND g.group_key = m.group_key AND g.lease_expires_at > (SELECT lease_now FROM clock))
        AND NOT EXISTS (
          SELECT 1 FROM ${t.messages} o
          WHERE o.topic = m.topic AND o.group_key = m.group_key AND o.acked_at IS NULL
            AND o.deliver_at <= (SELECT now FROM clock) AND o.send_order < m.send_order)))
    ORDER BY m.deliver_at, m.send_order
    LIMIT $2
    FOR UPDATE OF m SKIP LOCKED
  ),
  claimed AS (
    INSERT INTO ${t.groups} AS g (topic, group_key, message_id, lease_token, lease_expires_at)
    SELECT $1, c.group_key, c.message_id, $3, (SELECT lease_now FROM clock) + $4
    FROM candidates c WHERE c.group_key IS NOT NULL
    ORDER BY c.group_key
    ON CONFLICT (topic, group_key) DO UPDATE SET message_id = EXCLUDED.message_id,
      lease_token = EXCLUDED.lease_token, lease_expires_at = EXCLUDED.lease_expires_at
    WHERE g.lease_expires_at <= (SELECT lease_now FROM clock)
    RETURNING g.message_id
  ),
  leased AS (
    UPDATE ${t.messages} m SET
      attempt = m.attempt + 1,
      lease_token = $3,
      lease_expires_at = (SELECT lease_now FROM clock) + $4,
      -- As retryBackoffMs in @cairn/core: whole milliseconds. exp() of at most 100 cannot
      -- overflow, and e^100 exceeds any maxMs.
      deliver_at = (SELECT now FROM clock) + $4
        + floor(LEAST($7::float8, $5::float8 * exp(LEAST(ln($6::float8) * (m.attempt - 1), 100))))::bigint
    FROM candidates c
    WHERE m.message_id = c.message_id
      AND (c.group_key IS NULL OR c.message_id IN (SELECT message_id FROM claimed))
    RETURNING m.message_id, m.payload, c.attempt, m.group_key, m.idempotency_key, m.enqueued_at,
      c.deliver_at, m.send_order
  )
  SELECT x.now, x.next_due, l.*
  FROM (
    SELECT now, (
      SELECT min(deliver_at) FROM ${t.messages}
      WHERE topic = $1 AND acked_at IS NULL AND deliver_at > clock.now
    ) AS next_due FROM clock
  ) x
  LEFT JOIN leased l ON true
  ORDER BY l.deliver_at, l.send_order`;

/**
 * Releases the group row of a settled delivery (if this delivery still holds it), wakes
 * consumers so the group's next message goes out, and answers how many messages the
 * settlement changed (0: the lease was lost). Acknowledgements settle through the schema's
 * queue_ack function instead (migration 3).
 */
const releaseGroup = (t: Tables) => `
  released AS (
    DELETE FROM ${t.groups} WHERE topic = $3 AND group_key = $4 AND lease_token = $2 AND message_id = $1
  ), notified AS (
    SELECT pg_notify($5, $6)
  )
  SELECT (SELECT count(*) FROM settled)::int AS settled, (SELECT count(*) FROM notified)::int AS notified`;

/** Handler failed: due again after $7 ms of backoff (attempt was already bumped at lease time). */
export const retrySql = (t: Tables) => `
  WITH settled AS (
    UPDATE ${t.messages} SET deliver_at = ${t.nowMs} + $7, lease_token = NULL, lease_expires_at = NULL
    WHERE message_id = $1 AND lease_token = $2 AND lease_expires_at > ${t.leaseNowMs}
    RETURNING 1
  ), ${releaseGroup(t)}`;

/**
 * Extends message $1's lease under token $2 to $3 ms from now, only while that lease is
 * live. deliver_at moves by as much as the expiry does, so the backoff a lapse would
 * apply stays the same; the group row (held under the same token) follows. One row back
 * = extended.
 */
export const extendSql = (t: Tables) => `
  WITH clock AS (SELECT ${t.leaseNowMs} AS lease_now),
  extended AS (
    UPDATE ${t.messages} m SET
      deliver_at = m.deliver_at + ((SELECT lease_now FROM clock) + $3 - m.lease_expires_at),
      lease_expires_at = (SELECT lease_now FROM clock) + $3
    WHERE m.message_id = $1 AND m.lease_token = $2 AND m.lease_expires_at > (SELECT lease_now FROM clock)
    RETURNING m.topic, m.group_key, m.lease_expires_at
  ), group_extended AS (
    UPDATE ${t.groups} g SET lease_expires_at = e.lease_expires_at
    FROM extended e
    WHERE g.topic = e.topic AND g.group_key = e.group_key AND g.lease_token = $2 AND g.message_id = $1
  )
  SELECT count(*)::int AS extended FROM extended`;

/** Hands back messages leased by a consumer that stopped before it could deliver them, as if never leased. */
export const unleaseSql = (t: Tables) => `
  WITH returned AS (
    UPDATE ${t.messages} m SET deliver_at = u.deliver_at, attempt = m.attempt - 1,
      lease_token = NULL, lease_expires_at = NULL
    FROM unnest($1::text[], $3::bigint[]) AS u(message_id, deliver_at)
    WHERE m.message_id = u.message_id AND m.lease_token = $2
  ), released AS (
    DELETE FROM ${t.groups} WHERE lease_token = $2 AND message_id = ANY($1::text[])
  )
  SELECT pg_notify($4, $5)`;

/** Forgets acknowledged messages past their idempotency window and group rows long expired. */
export const pruneSql = (t: Tables) => `
  WITH old_messages AS (
    DELETE FROM ${t.messages} WHERE acked_at IS NOT NULL AND acked_at < ${t.nowMs} - $1
  )
  DELETE FROM ${t.groups} WHERE lease_expires_at < ${t.leaseNowMs} - 60000`;

/** Sends through the schema's queue_send (migration 3); true when a message was queued, false when deduplicated. */
export const sendSql = (t: Tables) =>
  `SELECT ${t.schema}.queue_send($1, $2, $3::json, $4, $5, $6, $7, $8, $9, $10) AS inserted`;

/** Acknowledges through the schema's queue_ack (migration 3); answers how many messages it settled. */
export const ackSql = (t: Tables) => `SELECT ${t.schema}.queue_ack($1, $2, $3, $4, $5, $6, $7) AS settled`;
