import {
  type ClaimOutcome,
  type DeliveryControl,
  type JsonValue,
  leaseMsSchema,
  parseInput,
  type QueueHandler,
  type QueueMessage,
  type ScheduledCallback,
  WorldUnavailableError,
} from '@cairn/core/world';
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
export interface Consumer {
  topic: string;
  handler: QueueHandler;
  concurrency: number;
  leaseMs: number;
  backoff: { initialMs: number; factor: number; maxMs: number };
  inFlight: number;
  stopped: boolean;
  /** Every handler started, until its settlement has been written. */
  running: Set<Promise<void>>;
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

/** The first pause before a settlement is tried again, and the longest. */
const settleRetryFirstMs = 50;
const settleRetryMaxMs = 1000;

const backoffDelay = ({ initialMs, factor, maxMs }: Consumer['backoff'], attempt: number) =>
  Math.min(maxMs, initialMs * factor ** (attempt - 1));

/**
 * Hands one leased message to the consumer's handler and settles it with the outcome:
 * acknowledged, or released for a retry after the consumer's backoff. The message holds
 * a slot until it is settled or its lease runs out; `pump` is called when a slot frees
 * while the consumer was full.
 */
export function deliver(db: Database, consumer: Consumer, row: LeasedRow, token: string, pump: () => void): void {
  consumer.inFlight += 1;
  const message: QueueMessage = {
    messageId: row.message_id!,
    topic: consumer.topic,
    payload: row.payload,
    attempt: row.attempt,
    ...(row.group_key === null ? {} : { groupKey: row.group_key }),
    ...(row.idempotency_key === null ? {} : { idempotencyKey: row.idempotency_key }),
    enqueuedAt: toMs(row.enqueued_at),
    deliverAt: toMs(row.deliver_at),
  };
  let slotHeld = true;
  let settling = false;
  const freeSlot = () => {
    if (!slotHeld) return;
    slotHeld = false;
    consumer.inFlight -= 1;
    if (consumer.saturated) {
      consumer.saturated = false;
      pump();
    }
  };
  // A handler running past its lease gives up its slot, so a hung handler cannot starve
  // the consumer; the database already hands the message to the next lease. The timer
  // follows the lease when the handler extends it.
  let leaseDeadline = Date.now() + consumer.leaseMs;
  let leaseTimer = setTimeout(freeSlot, consumer.leaseMs);
  const armLeaseTimer = () => {
    clearTimeout(leaseTimer);
    leaseTimer = setTimeout(freeSlot, Math.max(0, leaseDeadline - Date.now()));
  };
  const control: DeliveryControl = {
    extendLease: async (leaseMs?: number) => {
      const length = leaseMs === undefined ? consumer.leaseMs : parseInput(leaseMsSchema, leaseMs, 'leaseMs');
      if (!slotHeld || settling) return false;
      // The slot must not be freed while the database may be extending the lease.
      clearTimeout(leaseTimer);
      try {
        if (!(await extendLease(db, message.messageId, token, length))) return false;
        leaseDeadline = Date.now() + length;
        return true;
      } finally {
        if (slotHeld && !settling) armLeaseTimer();
      }
    },
  };
  const settle = async (failure: boolean) => {
    settling = true;
    clearTimeout(leaseTimer);
    if (!slotHeld) return; // lease expired: whatever we wrote would be ignored anyway
    const lease = { topic: message.topic, messageId: message.messageId, token, groupKey: message.groupKey };
    const outcome: ClaimOutcome = failure
      ? { retryAfterMs: backoffDelay(consumer.backoff, row.attempt) }
      : { acknowledge: true };
    // A settlement that meets an unreachable database is tried again while the lease
    // holds: given up, it would leave the message's group held until the lease ran out
    // (minutes), with everything queued behind it waiting. Anything else is given up at
    // once; the lease then runs out and the message is delivered again (at-least-once).
    for (let attempt = 0; ; attempt++) {
      try {
        await settleLease(db, lease, outcome);
        break;
      } catch (error) {
        const pause = Math.min(settleRetryFirstMs * 2 ** attempt, settleRetryMaxMs);
        if (consumer.stopped || !WorldUnavailableError.is(error) || Date.now() + pause >= leaseDeadline) break;
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    }
    freeSlot();
  };
  const running: Promise<void> = Promise.resolve()
    .then(() => consumer.handler(message, control))
    .then(
      () => settle(false),
      () => settle(true),
    )
    .finally(() => consumer.running.delete(running));
  consumer.running.add(running);
}
