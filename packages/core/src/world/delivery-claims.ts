import type { QueueClaim } from './world.js';

/** What a delivery still running lets the queue's claim methods do to it (see `deliverLeased`). */
export interface ClaimedDelivery {
  /**
   * Writes an extension of the delivery's lease through `write`, its lease timer stopped
   * until the answer, and moves its deadline to `leaseMs` from then when `write` says the
   * lease held.
   */
  extend(leaseMs: number, write: () => Promise<boolean>): Promise<boolean>;
  /** Its claim was settled outside the delivery: the handler's outcome writes nothing. */
  settledElsewhere(): void;
}

/**
 * The deliveries running in this process that carry a claim, by the claim's topic, message
 * id and token. One table for the process rather than one per World object: a second handle
 * on the same store (as a peer opens) may extend a claim that this one's consumer holds.
 * Tokens are random, so claims of different stores never meet under one key.
 */
const running = new Map<string, ClaimedDelivery>();

const keyOf = ({ topic, messageId, token }: QueueClaim) => JSON.stringify([topic, messageId, token]);

/** Lists a delivery under its claim until the returned function is called. */
export function trackClaimedDelivery(claim: QueueClaim, delivery: ClaimedDelivery): () => void {
  const key = keyOf(claim);
  running.set(key, delivery);
  return () => {
    if (running.get(key) === delivery) running.delete(key);
  };
}

/**
 * How a World's `queue.extendClaim` writes an extension: `write` moves the lease in the
 * store. When a delivery running here holds the claim, its lease timer is stopped while
 * `write` runs (so its slot is not freed while the lease may be being extended) and follows
 * the extension once the store confirms it, as after `DeliveryControl.extendLease`.
 */
export function extendDeliveryClaim(
  claim: QueueClaim,
  leaseMs: number,
  write: () => Promise<boolean>,
): Promise<boolean> {
  const delivery = running.get(keyOf(claim));
  return delivery === undefined ? write() : delivery.extend(leaseMs, write);
}

/**
 * How a World's `queue.settleClaim` writes a settlement: `write` settles the claim in the
 * store. When a delivery running here holds the claim and the store settled it, the
 * delivery writes nothing more: its handler's outcome would only meet a lease already gone.
 */
export async function settleDeliveryClaim(claim: QueueClaim, write: () => Promise<boolean>): Promise<boolean> {
  const settled = await write();
  if (settled) running.get(keyOf(claim))?.settledElsewhere();
  return settled;
}
