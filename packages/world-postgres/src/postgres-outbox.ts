import type { CreateEventParams, CreateEventResult, QueueClaim } from '@cairn/core/world';
import type { QueryResult } from 'pg';
import { ulid } from 'ulid';
import type { Database } from './database.js';
import { queueKey } from './notifications.js';
import type { Statement } from './postgres-append.js';
import { ackSql, claimedSendSql, sendSql } from './queue-sql.js';

/** The first backoff step a claim that lapses waits before its redelivery, as a consumer's default. */
const lapsedClaimBackoffMs = 100;

/** An outbox statement that may leave its message claimed by the writer, with the claim it would be. */
export interface OutboxStatement extends Statement {
  claim?: QueueClaim;
}

/**
 * The outbox: inserted in the append's transaction, so the messages exist if, and only if,
 * the events commit. A deduplicated key simply inserts nothing, as in queue.send. A claimed
 * message is inserted already leased under a fresh token; the acknowledgements the append
 * carries settle their claims in the same transaction.
 */
export function outboxStatements(
  db: Database,
  params: CreateEventParams | undefined,
  idempotencyRetentionMs: number,
): OutboxStatement[] {
  const sends = (params?.enqueue ?? []).map(({ topic, payload, options = {}, claim }): OutboxStatement => {
    const messageId = `msg_${ulid()}`;
    const groupKey = options.groupKey ?? null;
    if (claim !== undefined) {
      const token = `claim_${ulid()}`;
      return {
        text: claimedSendSql(db.tables),
        values: [messageId, topic, JSON.stringify(payload), groupKey, token, claim.leaseMs, lapsedClaimBackoffMs],
        claim: { topic, messageId, token, ...(groupKey === null ? {} : { groupKey }) },
      };
    }
    return {
      text: sendSql(db.tables),
      values: [
        messageId,
        topic,
        JSON.stringify(payload),
        groupKey,
        options.idempotencyKey ?? null,
        options.delayMs ?? 0,
        idempotencyRetentionMs,
        db.channel,
        queueKey(topic),
      ],
    };
  });
  return [...sends, ...(params?.acknowledge ?? []).map((claim) => acknowledgeStatement(db, claim))];
}

/** Acknowledges a claim as a consumer's ack would, doing nothing once its lease was lost. */
export function acknowledgeStatement(db: Database, claim: QueueClaim): Statement {
  return {
    text: ackSql(db.tables),
    values: [claim.messageId, claim.token, claim.topic, claim.groupKey ?? null, db.channel, queueKey(claim.topic)],
  };
}

/**
 * The claims that hold, read from the results of `statements` (one result each, in order),
 * and set on every result of the append; the results are returned for chaining.
 */
export function reportClaims(
  statements: readonly OutboxStatement[],
  statementResults: readonly QueryResult[],
  results: CreateEventResult[],
): CreateEventResult[] {
  const claims: QueueClaim[] = [];
  statements.forEach((statement, index) => {
    const row = statementResults[index]?.rows[0] as { claimed?: boolean } | undefined;
    if (statement.claim !== undefined && row?.claimed === true) claims.push(statement.claim);
  });
  if (claims.length > 0) for (const result of results) result.claims = claims;
  return results;
}
