import {
  type DeliveryConsumer,
  deliverLeased,
  type JsonValue,
  type QueueClaim,
  retryBackoffMs,
} from '@cairn/core/world';
import { claimBase, settleLease } from './redis-claims.js';
import type { Store } from './store.js';

/** A message as lease.lua leases it. */
export interface Leased {
  id: string;
  payload: string;
  group: string | null;
  idem: string | null;
  enqueuedAt: number;
  deliverAt: number;
  attempt: number;
}

/** One `consume` call's state. */
export interface Consumer extends DeliveryConsumer {
  topic: string;
  concurrency: number;
  stopped: boolean;
  pumping: Promise<void> | undefined;
  again: boolean;
  /** Partitions a notification named (by their key prefix), leased first in the next round. */
  hinted: Set<string>;
  /** The next round visits every partition (a poll, a due timer, the first round). */
  full: boolean;
  dueTimer: NodeJS.Timeout | undefined;
  /** Server time the due timer is set for. */
  dueAt: number;
  pollTimer: NodeJS.Timeout;
  unsubscribe: () => void;
}

/**
 * Hands one message leased from partition `base` to the consumer's handler and settles it
 * under the lease's token (settle.lua): acknowledged, or handed back after the consumer's
 * backoff. `pump` leases more when a slot frees.
 */
export function deliver(
  store: Store,
  consumer: Consumer,
  base: string,
  leased: Leased,
  token: string,
  pump: () => void,
): void {
  // The lease script gives a lapsed lease this backoff too (lease.lua computes it the same
  // way); a failure and an extension must agree with it.
  const backoffMs = retryBackoffMs(consumer.backoff, leased.attempt);
  // The lease as a claim an append may acknowledge, when the claim's own fields lead back
  // here (a message queued before claims existed may live where its id does not hash).
  const claim: QueueClaim = {
    topic: consumer.topic,
    messageId: leased.id,
    token,
    ...(leased.group === null ? {} : { groupKey: leased.group }),
  };
  deliverLeased({
    ...(claimBase(store.keys, claim) === base ? { claim } : {}),
    consumer,
    message: {
      messageId: leased.id,
      topic: consumer.topic,
      payload: JSON.parse(leased.payload) as JsonValue,
      attempt: leased.attempt,
      groupKey: leased.group,
      idempotencyKey: leased.idem,
      enqueuedAt: leased.enqueuedAt,
      deliverAt: leased.deliverAt,
    },
    retryAfterMs: backoffMs,
    pump,
    // Fenced on the lease token: only the holder of an unexpired lease extends it.
    extendLease: async (leaseMs) =>
      (await settleLease(store, base, leased.id, token, { mode: 'extend', leaseMs, backoffMs })) === 1,
    settle: (outcome) =>
      settleLease(
        store,
        base,
        leased.id,
        token,
        'acknowledge' in outcome ? { mode: 'ack' } : { mode: 'retry', delayMs: outcome.retryAfterMs },
      ),
  });
}
