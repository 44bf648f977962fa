import { type DeliveryConsumer, deliverLeased, type JsonValue, type ScheduledCallback } from '@cairn/core/world';
import { type Database, toMs } from './database.js';
import { extendLease, settleLease } from './postgres-claims.js';

/** A row of the lease statement: a leased message, or only the clock and the next due time. */
export interface LeasedRow {
  now: string;
  next_due: string | null;
  message_id: string | null;
  payload: JsonValue;
  attempt: number;
  group_key: string | null;
  idempotency_key: string | null;
  enqueued_at: string;
  deliver_at: string;
}

/** One `consume` call's state. */
export interface Consumer extends DeliveryConsumer {
  topic: string;
  concurrency: number;
  stopped: boolean;
  pumping: Promise<void> | undefined;
  again: boolean;
  /**
   * Set when a round stopped with every slot taken, so messages may be waiting that no
   * notification will announce again: the next slot to free leases for them. While slots
   * are free, every message that becomes available wakes the consumer by itself (its send,
   * its group's release, its due time, or the poll), so a freed slot need not lease.
   */
  saturated: boolean;
  dueTimer: ScheduledCallback | undefined;
  pollTimer: NodeJS.Timeout;
  unsubscribe: () => void;
}

/**
 * Hands one leased message to the consumer's handler and settles it with the outcome:
 * acknowledged, or released for a retry after the consumer's backoff. The message holds
 * a slot until it is settled or its lease runs out; `pump` is called when a slot frees
 * while the consumer was full.
 */
export function deliver(db: Database, consumer: Consumer, row: LeasedRow, token: string, pump: () => void): void {
  const messageId = row.message_id!;
  // The lease and a claim are the same row under the same token, so an append's
  // acknowledgement (append_batch's claims) settles this delivery as queue_ack would.
  const lease = {
    topic: consumer.topic,
    messageId,
    token,
    ...(row.group_key === null ? {} : { groupKey: row.group_key }),
  };
  deliverLeased({
    consumer,
    message: {
      messageId,
      topic: consumer.topic,
      payload: row.payload,
      attempt: row.attempt,
      groupKey: row.group_key,
      idempotencyKey: row.idempotency_key,
      enqueuedAt: toMs(row.enqueued_at),
      deliverAt: toMs(row.deliver_at),
    },
    pump,
    extendLease: (leaseMs) => extendLease(db, messageId, token, leaseMs),
    settle: (outcome) => settleLease(db, lease, outcome),
    claim: lease,
    // Given up, a settlement would leave the message's group held until the lease ran out
    // (minutes), with everything queued behind it waiting.
    retryUnavailableSettlement: true,
  });
}
