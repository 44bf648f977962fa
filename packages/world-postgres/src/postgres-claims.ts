import {
  type ClaimOutcome,
  claimOutcomeSchema,
  extendDeliveryClaim,
  leaseMsSchema,
  parseInput,
  type QueueClaim,
  queueClaimSchema,
  settleDeliveryClaim,
} from '@cairn/core/world';
import type { Database } from './database.js';
import { queueKey } from './notifications.js';
import { ackSql, extendSql, retrySql } from './queue-sql.js';

/*
 * Claims are leases taken at send time (the schema's queue_send_claimed, migration 3), so
 * they are extended and settled by the very statements a consumer's delivery uses, under
 * the claim's token: the consumer calls extendLease and settleLease below too. A delivery's
 * lease is a claim as well; when this process runs it, its consumer's lease timer follows an
 * extension, and a settlement leaves it nothing to write (extendDeliveryClaim,
 * settleDeliveryClaim).
 */

export async function extendClaim(db: Database, claim: QueueClaim, leaseMs: number): Promise<boolean> {
  const parsed = parseInput(queueClaimSchema, claim, 'claim');
  const length = parseInput(leaseMsSchema, leaseMs, 'leaseMs');
  return extendDeliveryClaim(parsed, length, () => extendLease(db, parsed.messageId, parsed.token, length));
}

export async function settleClaim(db: Database, claim: QueueClaim, outcome: ClaimOutcome): Promise<boolean> {
  const parsed = parseInput(queueClaimSchema, claim, 'claim');
  const settled = parseInput(claimOutcomeSchema, outcome, 'outcome');
  return settleDeliveryClaim(parsed, () => settleLease(db, parsed, settled));
}

/** Moves a live lease's expiry to `leaseMs` from now; false once it was lost or settled. */
export async function extendLease(db: Database, messageId: string, token: string, leaseMs: number): Promise<boolean> {
  const [row] = await db.query<{ extended: number }>(extendSql(db.tables), [messageId, token, leaseMs]);
  return row?.extended === 1;
}

/**
 * Acknowledges a leased message or hands it back for a retry after `retryAfterMs`, under its
 * lease's token; false when the lease was already lost (nothing changes then).
 */
export async function settleLease(db: Database, lease: QueueClaim, outcome: ClaimOutcome): Promise<boolean> {
  const { topic, messageId, token, groupKey } = lease;
  const values = [messageId, token, topic, groupKey ?? null, db.channel, queueKey(topic)];
  const [row] =
    'retryAfterMs' in outcome
      ? await db.query<{ settled: number }>(retrySql(db.tables), [...values, outcome.retryAfterMs])
      : await db.query<{ settled: number }>(ackSql(db.tables), [...values, db.tables.injectedNow()]);
  return row?.settled === 1;
}
