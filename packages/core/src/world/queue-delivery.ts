import { trackClaimedDelivery } from './delivery-claims.js';
import { WorldUnavailableError } from './errors/world-unavailable-error.js';
import type { JsonValue } from './schemas/primitives.js';
import { leaseMsSchema, type QueueMessage } from './schemas/queue.js';
import { parseInput } from './validation.js';
import type { ClaimOutcome, DeliveryControl, QueueClaim, QueueHandler } from './world.js';

/** A consumer's retry backoff: `ConsumeOptions.retryBackoff` with its defaults filled in. */
export interface RetryBackoff {
  initialMs: number;
  factor: number;
  maxMs: number;
}

/**
 * How long a message waits to be due again after its delivery `attempt` failed, in whole
 * milliseconds: stores keep times as whole milliseconds, and a factor that is not whole
 * (1.5) gives fractions. A power too large to represent is Infinity, which `maxMs` caps; an
 * initial 0 stays 0 rather than 0 × Infinity (NaN). The stores that expire leases by
 * themselves (world-postgres's lease statement, world-redis's lease.lua) compute the same.
 */
export const retryBackoffMs = ({ initialMs, factor, maxMs }: RetryBackoff, attempt: number): number =>
  initialMs === 0 ? 0 : Math.floor(Math.min(maxMs, initialMs * factor ** (attempt - 1)));

/** The part of a World's consumer state that a delivery reads and updates. */
export interface DeliveryConsumer {
  readonly handler: QueueHandler;
  /** The lease a delivery starts with, and the length `extendLease()` renews it to by default. */
  readonly leaseMs: number;
  readonly backoff: RetryBackoff;
  /** Slots taken: each delivery takes one and gives it back exactly once. */
  inFlight: number;
  readonly stopped: boolean;
  /** Each delivery's promise, from the start of its handler until its settlement is done. */
  readonly running: Set<Promise<void>>;
  /**
   * For a World whose leasing round sets it when it stopped with every slot taken: the next
   * slot to free clears it and pumps, and other freed slots do not. Left undefined, every
   * freed slot pumps.
   */
  saturated?: boolean;
}

/** A leased message as a store reads it: a group or idempotency key it lacks may be null. */
export interface LeasedMessage {
  messageId: string;
  topic: string;
  payload: JsonValue;
  attempt: number;
  groupKey?: string | null;
  idempotencyKey?: string | null;
  enqueuedAt: number;
  deliverAt: number;
}

/** One message a World has just leased, with what only that World knows how to do with it. */
export interface LeasedDelivery {
  consumer: DeliveryConsumer;
  message: LeasedMessage;
  /** Writes the outcome under this delivery's lease; what it resolves with is not read. */
  settle(outcome: ClaimOutcome): Promise<unknown>;
  /**
   * The lease as a claim an append may acknowledge (`DeliveryControl.claim`), for a World
   * whose appends settle claims by the same token its deliveries are settled with. While the
   * delivery runs, the World's `queue.extendClaim` and `settleClaim` reach it through
   * `extendDeliveryClaim` and `settleDeliveryClaim` (delivery-claims.ts).
   */
  claim?: QueueClaim;
  /**
   * Moves the lease's expiry in the store to `leaseMs` from now; false when the lease was
   * already lost. Left out where the lease lives only in this process: the lease timer is
   * then the whole lease, and extending it moves only the timer.
   */
  extendLease?(leaseMs: number): Promise<boolean>;
  /**
   * The delay a failed delivery is released with, for a store that computes the same delay
   * itself when a lease runs out and must agree with it. Default: `retryBackoffMs` of the
   * consumer's backoff and the message's attempt.
   */
  retryAfterMs?: number;
  /**
   * Tries a settlement that met `WorldUnavailableError` again, pausing 50 ms and doubling up
   * to 1 s, while the lease holds and the consumer runs. For a store where a settlement given
   * up holds the message's group until the lease runs out.
   */
  retryUnavailableSettlement?: boolean;
  /**
   * Leases more work; called when a slot frees (see `DeliveryConsumer.saturated`). Left out
   * by a World that hands out more work itself once its settlement is written.
   */
  pump?(): void;
  /**
   * Runs before the handler (it must return a promise, not throw); if it rejects, the handler
   * does not run and the delivery counts as failed.
   */
  beforeHandler?(): Promise<unknown>;
  /**
   * Called after the lease timer ran out and freed the slot, for a World whose store does
   * not expire leases by itself: it hands the message back for redelivery here.
   */
  leaseExpired?(): void;
  /**
   * Frees the slot as soon as settling starts rather than once the settlement is written,
   * for a World where the lease ends the moment settling starts (nothing else can take the
   * message meanwhile), so the slot need not wait for the write.
   */
  freeSlotBeforeSettling?: boolean;
}

/** What a World keeps of a delivery it started. */
export interface DeliveryHandle {
  /**
   * Forgets the lease without settling it or giving back its slot, for a World that is
   * closing: the lease timer stops, and a handler still running can neither settle nor
   * extend (its `extendLease` resolves false).
   */
  abandon(): void;
}

/** The first pause before an unavailable store's settlement is tried again, and the longest. */
const settleRetryFirstMs = 50;
const settleRetryMaxMs = 1000;

/**
 * Hands one leased message to the consumer's handler and settles it with the outcome:
 * acknowledged when the handler resolves (unless an append already did, as the handler says
 * through `acknowledgedByAppend`); released for a retry after the backoff of its
 * attempt when the handler rejects (or throws). Returns at once; the work is tracked in
 * `consumer.running` until the settlement is done.
 *
 * Slot accounting: the delivery takes a slot (`consumer.inFlight`) when called and gives it
 * back exactly once: when its settlement is written (or starts, with
 * `freeSlotBeforeSettling`; or when the handler is done, if an append or
 * `queue.settleClaim` settled its claim), or when its lease runs out, whichever comes
 * first. A freed slot pumps the consumer as `DeliveryConsumer.saturated` describes.
 *
 * Lease timer: a handler running past its lease gives up its slot, so a hung handler cannot
 * starve the consumer; the store (or `leaseExpired`) hands the message to the next lease.
 * The timer follows the lease when the handler extends it, or when anyone in this process
 * extends the delivery's claim through the World's `queue.extendClaim` (which writes
 * through `extendDeliveryClaim` for this); it is stopped while an extension is being
 * written, so the slot is never freed while the store may be extending the lease. Once the
 * lease ran out, the settlement is skipped: the store has moved on and would ignore it. So
 * is the settlement of a delivery whose claim `queue.settleClaim` settled (through
 * `settleDeliveryClaim`), whatever its handler does after.
 *
 * At-least-once: a settlement that fails is given up (after the retries of
 * `retryUnavailableSettlement`, where asked) and the slot freed anyway; the lease then runs
 * out in the store and the message is delivered again.
 *
 * Throws nothing itself. The handler's `extendLease(leaseMs?)` rejects with
 * `InvalidInputError` for a bad `leaseMs`, and with whatever the World's `extendLease`
 * rejected with; it resolves false once the lease ran out, settling started or the claim
 * was settled.
 */
export function deliverLeased(delivery: LeasedDelivery): DeliveryHandle {
  const { consumer } = delivery;
  consumer.inFlight += 1;
  const message = queueMessage(delivery.message);
  let slotHeld = true;
  let settling = false;
  const freeSlot = () => {
    if (!slotHeld) return;
    slotHeld = false;
    consumer.inFlight -= 1;
    if (consumer.saturated === undefined) {
      delivery.pump?.();
    } else if (consumer.saturated) {
      consumer.saturated = false;
      delivery.pump?.();
    }
  };
  /** Set when `queue.settleClaim` settled the delivery's claim: the lease is gone. */
  let settledElsewhere = false;
  let untrack = () => {};
  const expire = () => {
    if (!slotHeld) return;
    freeSlot();
    untrack();
    if (!settledElsewhere) delivery.leaseExpired?.();
  };
  let leaseDeadline = Date.now() + consumer.leaseMs;
  let leaseTimer = setTimeout(expire, consumer.leaseMs);
  /** Extensions being written: the timer stays stopped until the last is answered. */
  let extending = 0;
  /** Writes an extension (the handler's, or one of the claim's); the slot must not be freed meanwhile. */
  const extend = async (leaseMs: number, write: () => Promise<boolean>) => {
    clearTimeout(leaseTimer);
    extending += 1;
    try {
      if (!(await write())) return false;
      // Read by a settlement's retries too, so moved even once settling started.
      leaseDeadline = Date.now() + leaseMs;
      return true;
    } finally {
      extending -= 1;
      if (extending === 0 && slotHeld && !settling) {
        leaseTimer = setTimeout(expire, Math.max(0, leaseDeadline - Date.now()));
      }
    }
  };
  if (delivery.claim !== undefined) {
    untrack = trackClaimedDelivery(delivery.claim, {
      extend,
      settledElsewhere: () => {
        settledElsewhere = true;
        untrack();
      },
    });
  }
  /** Set when a committed append acknowledged the lease (`DeliveryControl.acknowledgedByAppend`). */
  let acknowledgedByAppend = false;
  const control: DeliveryControl = {
    ...(delivery.claim === undefined
      ? {}
      : {
          claim: delivery.claim,
          acknowledgedByAppend: () => {
            acknowledgedByAppend = true;
          },
        }),
    extendLease: async (leaseMs?: number) => {
      const length = leaseMs === undefined ? consumer.leaseMs : parseInput(leaseMsSchema, leaseMs, 'leaseMs');
      if (!slotHeld || settling || settledElsewhere) return false;
      return extend(length, () => delivery.extendLease?.(length) ?? Promise.resolve(true));
    },
  };
  const settle = async (failed: boolean) => {
    settling = true;
    clearTimeout(leaseTimer);
    if (!slotHeld) return; // the lease ran out: whatever was written now would be ignored
    if (settledElsewhere) return void freeSlot(); // `queue.settleClaim` ended the lease
    if (!failed && acknowledgedByAppend) return void freeSlot(); // settled in that append's commit
    if (delivery.freeSlotBeforeSettling) freeSlot();
    const outcome: ClaimOutcome = failed
      ? { retryAfterMs: delivery.retryAfterMs ?? retryBackoffMs(consumer.backoff, message.attempt) }
      : { acknowledge: true };
    await writeSettlement(delivery, outcome, () => leaseDeadline);
    freeSlot();
  };
  // Chained on directly rather than wrapped in a promise of its own, so the handler starts on
  // the very turn the preparation settles (which is why it must return a promise, not throw).
  const prepared = delivery.beforeHandler?.() ?? Promise.resolve();
  const running: Promise<void> = prepared
    .then(() => consumer.handler(message, control))
    .then(
      () => settle(false),
      () => settle(true),
    )
    .finally(() => {
      untrack();
      consumer.running.delete(running);
    });
  consumer.running.add(running);
  return {
    abandon: () => {
      clearTimeout(leaseTimer);
      slotHeld = false;
      untrack();
    },
  };
}

/**
 * A settlement that meets an unavailable store is tried again while the lease holds, where
 * the World asks: given up, it would leave the message's group held until the lease ran out,
 * with everything queued behind it waiting. Anything else is given up at once; the lease
 * then runs out and the message is delivered again (at-least-once). The deadline is read
 * anew each time: an extension written while settling started still moves it.
 */
async function writeSettlement(delivery: LeasedDelivery, outcome: ClaimOutcome, leaseDeadline: () => number) {
  for (let retry = 0; ; retry++) {
    try {
      await delivery.settle(outcome);
      return;
    } catch (error) {
      const pause = Math.min(settleRetryFirstMs * 2 ** retry, settleRetryMaxMs);
      const tryAgain =
        delivery.retryUnavailableSettlement === true &&
        !delivery.consumer.stopped &&
        WorldUnavailableError.is(error) &&
        Date.now() + pause < leaseDeadline();
      if (!tryAgain) return;
      await new Promise((resolve) => setTimeout(resolve, pause));
    }
  }
}

function queueMessage(leased: LeasedMessage): QueueMessage {
  const groupKey = leased.groupKey ?? undefined;
  const idempotencyKey = leased.idempotencyKey ?? undefined;
  return {
    messageId: leased.messageId,
    topic: leased.topic,
    payload: leased.payload,
    attempt: leased.attempt,
    ...(groupKey === undefined ? {} : { groupKey }),
    ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
    enqueuedAt: leased.enqueuedAt,
    deliverAt: leased.deliverAt,
  };
}
