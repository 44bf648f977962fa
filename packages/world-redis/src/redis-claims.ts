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
import type { Keys } from './keys.js';
import type { Store } from './store.js';

/** What settle.lua is asked to do with a lease (see the script). */
export interface Settlement {
  mode: 'ack' | 'retry' | 'unlease' | 'extend';
  delayMs?: number;
  leaseMs?: number;
  backoffMs?: number;
}

/** Settles the lease `token` holds on message `id` in partition `base`; 1 when it did, 0 when the lease was lost. */
export function settleLease(store: Store, base: string, id: string, token: string, settlement: Settlement) {
  return store.script<number>('settle', `${base}:m:${id}`, {
    base,
    channel: store.keys.channel,
    id,
    token,
    ...settlement,
  });
}

/** The partition a claim's message lives in, found from the claim alone (Keys.claimPartition). */
export function claimBase(keys: Keys, claim: { messageId: string; groupKey?: string | undefined }): string {
  const { messageId, groupKey } = claim;
  return keys.base(keys.claimPartition({ messageId, ...(groupKey === undefined ? {} : { groupKey }) }));
}

/*
 * A claim is a lease like a delivery's, under the claim's token, so it is extended and
 * settled by the very script a consumer's delivery uses (settle.lua). An extension keeps the
 * backoff the lease was taken with, which the claim does not carry. A delivery's lease is a
 * claim as well; when this process runs it, its consumer's lease timer follows an
 * extension, and a settlement leaves it nothing to write (extendDeliveryClaim,
 * settleDeliveryClaim).
 */

export async function extendClaim(store: Store, claim: QueueClaim, leaseMs: number): Promise<boolean> {
  store.assertOpen();
  const parsed = parseInput(queueClaimSchema, claim, 'claim');
  const length = parseInput(leaseMsSchema, leaseMs, 'leaseMs');
  const base = claimBase(store.keys, parsed);
  const extend = { mode: 'extend', leaseMs: length } as const;
  return extendDeliveryClaim(
    parsed,
    length,
    async () => (await settleLease(store, base, parsed.messageId, parsed.token, extend)) === 1,
  );
}

export async function settleClaim(store: Store, claim: QueueClaim, outcome: ClaimOutcome): Promise<boolean> {
  store.assertOpen();
  const parsed = parseInput(queueClaimSchema, claim, 'claim');
  const settled = parseInput(claimOutcomeSchema, outcome, 'outcome');
  const settlement: Settlement =
    'retryAfterMs' in settled ? { mode: 'retry', delayMs: settled.retryAfterMs } : { mode: 'ack' };
  const base = claimBase(store.keys, parsed);
  return settleDeliveryClaim(
    parsed,
    async () => (await settleLease(store, base, parsed.messageId, parsed.token, settlement)) === 1,
  );
}
