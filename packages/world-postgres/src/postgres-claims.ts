import {
  type ClaimOutcome,
  claimOutcomeSchema,
  leaseMsSchema,
  parseInput,
  type QueueClaim,
  queueClaimSchema,
} from '@cairn/core/world';
import type { Database } from './database.js';
import { queueKey } from './notifications.js';
import { ackSql, extendSql, retrySql } from './queue-sql.js';

/*
 * Claims are leases taken at send time (see claimedSendSql), so they are extended and
 * settled by the very statements a consumer's delivery uses, under the claim's token.
 */

export async function extendClaim(db: Database, claim: QueueClaim, leaseMs: number): Promise<boolean> {
  const { messageId, token } = parseInput(queueClaimSchema, claim, 'claim');
  const length = parseInput(leaseMsSchema, leaseMs, 'leaseMs');
  const [row] = await db.query<{ extended: number }>(extendSql(db.tables), [messageId, token, length]);
  return row?.extended === 1;
}

export async function settleClaim(db: Database, claim: QueueClaim, outcome: ClaimOutcome): Promise<boolean> {
  const { topic, messageId, token, groupKey } = parseInput(queueClaimSchema, claim, 'claim');
  const parsed = parseInput(claimOutcomeSchema, outcome, 'outcome');
  const values = [messageId, token, topic, groupKey ?? null, db.channel, queueKey(topic)];
  const [row] =
    'retryAfterMs' in parsed
      ? await db.query<{ settled: number }>(retrySql(db.tables), [...values, parsed.retryAfterMs])
      : await db.query<{ settled: number }>(ackSql(db.tables), [...values, db.tables.injectedNow()]);
  return row?.settled === 1;
}
