import {
  type ClaimOutcome,
  type Clock,
  claimOutcomeSchema,
  type EnqueueRequest,
  extendDeliveryClaim,
  InvalidInputError,
  leaseMsSchema,
  parseInput,
  type QueueClaim,
  queueClaimSchema,
  settleDeliveryClaim,
  ulid,
} from '@cairn/core/world';
import type { LocalQueue } from './local-queue.js';
import type { JournalRecord, StoredMessage } from './local-records.js';
import type { LocalStore, Outcome } from './local-store.js';

/**
 * How long a lapsed claim's message waits before a consumer may take it: the first backoff
 * step of a consumer's default, as if the writer had been a consumer whose handler failed.
 */
const lapsedClaimBackoffMs = 100;

/** What an append's commit does to the queue: the records it journals and what follows the commit. */
interface StagedQueueWork {
  records: JournalRecord[];
  afterCommit: () => void;
}

/**
 * Claims (`EnqueueRequest.claim`): messages queued already leased to the writer that sent
 * them, and the settlement of claims (a delivery's lease is one too) outside a consumer.
 *
 * A claim is a lease like a consumer's (local-leases.ts): held in memory only. What is
 * journalled is the message, in the append's own group, already counting the claim as its
 * first delivery (attempt 2 next) and due at once. So a claim never outlives the process
 * that took it: after a crash or restart the message is delivered again straight away, and
 * a settlement of the old claim finds nothing and resolves false. The writer that held it
 * is gone with that process; nothing else could have settled it.
 *
 * An acknowledgement an append carries (`CreateEventParams.acknowledge`) is an `ack`
 * record in the append's group, so the events and the acknowledgement commit together or
 * not at all.
 */
export class LocalClaims {
  constructor(
    private readonly store: LocalStore,
    private readonly queue: LocalQueue,
    private readonly clock: Clock,
  ) {}

  /** A delivery's claim too: its consumer's lease timer follows (`extendDeliveryClaim`). */
  async extendClaim(claim: QueueClaim, leaseMs: number): Promise<boolean> {
    const parsed = parseInput(queueClaimSchema, claim, 'claim');
    const length = parseInput(leaseMsSchema, leaseMs, 'leaseMs');
    this.store.assertNotClosing();
    // Nothing to journal: a lease is never on disk.
    return extendDeliveryClaim(parsed, length, async () =>
      this.queue.leases.extend(parsed.messageId, parsed.token, length),
    );
  }

  /** A delivery's claim too: its consumer then writes no settlement of its own (`settleDeliveryClaim`). */
  async settleClaim(claim: QueueClaim, outcome: ClaimOutcome): Promise<boolean> {
    const parsed = parseInput(queueClaimSchema, claim, 'claim');
    const settled = parseInput(claimOutcomeSchema, outcome, 'outcome');
    this.store.assertNotClosing();
    return settleDeliveryClaim(parsed, async () => {
      const lease = this.queue.leases.end(parsed.messageId, parsed.token);
      if (!lease) return false;
      await this.queue.settleLease(lease, settled);
      return true;
    });
  }

  /**
   * Refuses an outbox naming a message id the queue holds already, or one another of its
   * messages names, before the append changes anything.
   */
  checkChosenIds(enqueue: readonly EnqueueRequest[]): void {
    const chosen = new Set<string>();
    enqueue.forEach(({ claim }, index) => {
      const messageId = claim?.messageId;
      if (messageId === undefined) return;
      if (this.store.state.messages.has(messageId) || chosen.has(messageId)) {
        throw new InvalidInputError({
          field: `params.enqueue.${index}.claim.messageId`,
          value: messageId,
          reason: 'is already the id of a message in the queue',
        });
      }
      chosen.add(messageId);
    });
  }

  /**
   * An append's outbox, inside its operation (after `checkChosenIds`, and once nothing can
   * throw any more): plain messages as `queue.send` queues them, claimed ones leased to the
   * writer, or queued unclaimed when their group is leased already. Results in the claims
   * that hold, in outbox order.
   */
  stageOutbox(enqueue: readonly EnqueueRequest[]): Outcome<QueueClaim[]> {
    const claims: QueueClaim[] = [];
    const records: JournalRecord[] = [];
    const scheduled: (() => void)[] = [];
    for (const request of enqueue) {
      const held = request.claim === undefined ? undefined : this.stageClaimed(request, request.claim);
      if (held) {
        claims.push(held.claim);
        records.push(held.record);
        continue;
      }
      const { topic, payload, options = {} } = request;
      const sent = this.queue.stage(topic, payload, options, undefined, request.claim?.messageId);
      records.push(...sent.records);
      if (sent.afterCommit) scheduled.push(sent.afterCommit);
    }
    return {
      result: claims,
      records,
      afterCommit: () => {
        for (const schedule of scheduled) schedule();
      },
    };
  }

  /**
   * The acknowledgements an append carries, inside its operation: each claim still held
   * ends now and its message is acknowledged by the append's own group. One already lost is
   * left alone (its message is someone else's now, or back in the queue).
   */
  stageAcknowledgements(acknowledge: readonly QueueClaim[]): StagedQueueWork {
    const records: JournalRecord[] = [];
    const released: (() => void)[] = [];
    for (const { messageId, token } of acknowledge) {
      const lease = this.queue.leases.end(messageId, token);
      if (!lease) continue;
      const staged = this.queue.stageAck(lease.message);
      records.push(...staged.records);
      released.push(staged.afterCommit);
    }
    return {
      records,
      afterCommit: () => {
        for (const release of released) release();
      },
    };
  }

  /** Queues `request` leased to its writer; undefined, writing nothing, when its group is leased. */
  private stageClaimed(
    { topic, payload, options }: EnqueueRequest,
    claim: NonNullable<EnqueueRequest['claim']>,
  ): { claim: QueueClaim; record: JournalRecord } | undefined {
    const groupKey = options?.groupKey;
    const now = this.clock.now();
    const message: StoredMessage = {
      messageId: claim.messageId ?? `msg_${ulid()}`,
      topic,
      payload: structuredClone(payload),
      ...(groupKey === undefined ? {} : { groupKey }),
      enqueuedAt: now,
      // Due as soon as the claim is gone without a settlement: after it lapses, a retry
      // record moves this on; after a restart, nothing does, and it is delivered at once.
      deliverAt: now,
      // The claim is the message's first delivery, so the next one is its second.
      attempt: 2,
    };
    if (!this.queue.order.holdGroup(message)) return undefined;
    this.store.state.addMessage(message);
    const token = claim.token ?? `claim_${ulid()}`;
    this.queue.leases.take(message, token, 1, claim.leaseMs, lapsedClaimBackoffMs);
    return {
      claim: { topic, messageId: message.messageId, token, ...(groupKey === undefined ? {} : { groupKey }) },
      record: { type: 'message', message },
    };
  }
}
