import {
  type ClaimOutcome,
  type Clock,
  type ConsumeOptions,
  consumeOptionsSchema,
  type DeliveryConsumer,
  deliverLeased,
  InvalidInputError,
  type JsonValue,
  parseInput,
  type QueueConsumer,
  type QueueHandler,
  retryBackoffMs,
  type SendOptions,
  type SendResult,
  topicSchema,
  ulid,
  type WorldQueue,
} from '@cairn/core/world';
import { DispatchOrder } from './local-dispatch-order.js';
import { type Lease, Leases } from './local-leases.js';
import { messageRecord, parseSend } from './local-messages.js';
import type { JournalRecord, StoredMessage } from './local-records.js';
import type { LocalStore, Outcome } from './local-store.js';

interface Consumer extends DeliveryConsumer {
  topic: string;
  concurrency: number;
  stopped: boolean;
}

/**
 * Sends are journalled; leases live in memory only (local-leases.ts). A process that dies
 * holds no leases after a restart, so every unacknowledged message is deliverable again:
 * at-least-once. Each delivery journals the attempt number the next one will carry before
 * its handler runs, so a redelivery after a crash counts the attempt that crashed.
 *
 * Which message goes next, groups included, is kept by `order` (local-dispatch-order.ts);
 * this side sends, leases what it gives to consumers round-robin, and settles.
 */
export class LocalQueue implements WorldQueue {
  private readonly consumers = new Map<string, Consumer[]>();
  /** Consumers whose stop() is waiting for their handlers. */
  private readonly stopping = new Set<Consumer>();
  /** Leased messages, a consumer's or a claim's: when one runs out, its message is handed back. */
  readonly leases = new Leases((lease) => void this.lapse(lease));
  /** Which due message goes next; a claim takes its group through it too. */
  readonly order: DispatchOrder;

  /**
   * `clock` stamps messages and judges when a delayed one is due; leases stay on real time,
   * since they judge whether a consumer is still alive.
   */
  constructor(
    private readonly store: LocalStore,
    private readonly settings: { defaultLeaseMs: number; idempotencyRetentionMs: number; maxPayloadBytes: number },
    private readonly clock: Clock,
  ) {
    this.order = new DispatchOrder(
      store,
      (messageId) => this.leases.has(messageId),
      (topic) => this.dispatch(topic),
      clock,
    );
  }

  /** After the store opened: everything not acknowledged is due now or at its deliverAt. */
  hydrate(): void {
    for (const message of this.store.state.messages.values()) {
      if (message.ackedAt === undefined) this.order.schedule(message);
    }
  }

  async send(topic: string, payload: JsonValue, options?: SendOptions): Promise<SendResult> {
    const parsed = parseSend(topic, payload, options, this.settings.maxPayloadBytes);
    return this.store.submit<SendResult>(() => this.stage(topic, payload, parsed.options, parsed.payloadJson));
  }

  /**
   * Decides one send inside the commit loop: deduplicate, or add the message to the state
   * and return the record that makes it durable. `queue.send` uses it, and so does an
   * append that enqueues atomically with its events (`CreateEventParams.enqueue`).
   */
  stage(
    topic: string,
    payload: JsonValue,
    options: SendOptions,
    payloadJson?: string,
    messageId = `msg_${ulid()}`,
  ): Outcome<SendResult> {
    const { delayMs = 0, idempotencyKey, groupKey } = options;
    const now = this.clock.now();
    if (idempotencyKey !== undefined) {
      const earlier = this.store.state.findByIdempotencyKey(
        topic,
        idempotencyKey,
        now,
        this.settings.idempotencyRetentionMs,
      );
      if (earlier) return { result: { messageId: earlier.messageId, deduplicated: true }, records: [] };
    }
    const message: StoredMessage = {
      messageId,
      topic,
      payload: structuredClone(payload),
      ...(groupKey === undefined ? {} : { groupKey }),
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      enqueuedAt: now,
      deliverAt: now + delayMs,
      attempt: 1,
    };
    this.store.state.addMessage(message);
    return {
      result: { messageId: message.messageId, deduplicated: false },
      records: [messageRecord(message, payloadJson)],
      afterCommit: () => this.order.schedule(message),
    };
  }

  consume(topic: string, handler: QueueHandler, options?: ConsumeOptions): QueueConsumer {
    parseInput(topicSchema, topic, 'topic');
    if (typeof handler !== 'function') {
      throw new InvalidInputError({ field: 'handler', value: handler, reason: 'must be a function' });
    }
    const parsed = parseInput(consumeOptionsSchema, options, 'options') ?? {};
    const consumer: Consumer = {
      topic,
      handler,
      concurrency: parsed.concurrency ?? 1,
      leaseMs: parsed.leaseMs ?? this.settings.defaultLeaseMs,
      backoff: { initialMs: 100, factor: 2, maxMs: 30_000, ...parsed.retryBackoff },
      inFlight: 0,
      stopped: false,
      running: new Set(),
    };
    this.consumers.set(topic, [...(this.consumers.get(topic) ?? []), consumer]);
    queueMicrotask(() => this.dispatch(topic));
    return {
      stop: async () => {
        consumer.stopped = true;
        this.consumers.set(
          topic,
          (this.consumers.get(topic) ?? []).filter((other) => other !== consumer),
        );
        // Kept among the stopping until its handlers settle: a close() that begins while
        // this stop() is still waiting (its caller did not await it) waits for them too.
        this.stopping.add(consumer);
        while (consumer.running.size > 0) await Promise.allSettled([...consumer.running]);
        this.stopping.delete(consumer);
      },
    };
  }

  /** Stops every consumer (waiting for their handlers) and every timer. */
  async close(): Promise<void> {
    const all = [...this.consumers.values()].flat().concat([...this.stopping]);
    for (const consumer of all) consumer.stopped = true;
    this.consumers.clear();
    while (all.some((consumer) => consumer.running.size > 0)) {
      await Promise.allSettled(all.flatMap((consumer) => [...consumer.running]));
    }
    this.order.clear();
    this.leases.clear();
  }

  private dispatch(topic: string): void {
    if (this.store.isClosed) return;
    let consumers = (this.consumers.get(topic) ?? []).filter((consumer) => consumer.inFlight < consumer.concurrency);
    while (consumers.length > 0) {
      const message = this.order.next(topic);
      if (message === undefined) return;
      const consumer = consumers[0]!;
      this.deliver(consumer, message);
      // Round-robin: the consumer just used goes to the back, or drops out when full.
      consumers = [...consumers.slice(1), ...(consumer.inFlight < consumer.concurrency ? [consumer] : [])];
    }
  }

  private deliver(consumer: Consumer, message: StoredMessage): void {
    this.order.holdGroup(message);
    this.order.delivered(message.messageId);
    // The stored message's attempt moves on as soon as the next one is journalled.
    const attempt = message.attempt;
    const nextAttempt = attempt + 1;
    const { messageId, topic, groupKey } = message;
    const token = this.leases.mintToken();
    const lease = this.leases.take(
      message,
      token,
      attempt,
      consumer.leaseMs,
      retryBackoffMs(consumer.backoff, attempt),
    );
    lease.delivery = deliverLeased({
      consumer,
      message: { ...message, payload: structuredClone(message.payload) },
      // An append may acknowledge the delivery in its own commit (`acknowledge`).
      claim: { topic, messageId, token, ...(groupKey === undefined ? {} : { groupKey }) },
      // Durable before the handler runs: a crash from here on redelivers with the next attempt.
      beforeHandler: () =>
        this.store.submit(() => {
          this.store.state.retryMessage(messageId, nextAttempt, message.deliverAt);
          return {
            result: undefined,
            records: [{ type: 'retry', messageId, attempt: nextAttempt, deliverAt: message.deliverAt }],
          };
        }),
      // The lease ends in memory the moment settling starts: nothing can lease the message
      // until it is handed back, so its slot is free at once.
      freeSlotBeforeSettling: true,
      // A slot freed without a settlement of ours (an append acknowledged the delivery, or the
      // handler outran its lease) must still be filled.
      pump: () => this.dispatch(topic),
      settle: async (outcome) => {
        const held = this.leases.end(messageId, token);
        // Lost already: it ran out, or an append or `settleClaim` settled it.
        if (held) await this.settleLease(held, outcome).catch(() => {});
      },
      extendLease: async (leaseMs) => this.leases.extend(messageId, token, leaseMs),
    });
  }

  /**
   * Acknowledges a lease's message or hands it back for a retry, once the lease has been
   * ended (`leases.end`). Rejects when the outcome could not be journalled.
   */
  async settleLease(lease: Lease, outcome: ClaimOutcome): Promise<void> {
    const { message } = lease;
    try {
      if ('acknowledge' in outcome) {
        // Its commit releases the group (stageAck's afterCommit).
        await this.store.submit(() => ({ result: undefined, ...this.stageAck(message) }));
      } else {
        await this.retry(message, lease.attempt, outcome.retryAfterMs);
      }
    } finally {
      this.dispatch(message.topic);
    }
  }

  /** Acknowledges a message inside the commit loop; its group is released after the commit. */
  stageAck(message: StoredMessage): { records: JournalRecord[]; afterCommit: () => void } {
    const at = this.clock.now();
    this.store.state.ackMessage(message.messageId, at);
    return {
      records: [{ type: 'ack', messageId: message.messageId, at }],
      afterCommit: () => {
        this.order.releaseGroup(message);
        this.dispatch(message.topic);
      },
    };
  }

  /**
   * A lease ran out: the holder is presumed gone. A consumer's handler may still be running,
   * but its slot is already free, so a hung handler cannot starve the consumer; its late
   * settlement is ignored.
   */
  private async lapse(lease: Lease): Promise<void> {
    await this.retry(lease.message, lease.attempt, lease.lapseDelayMs).catch(() => {});
    this.dispatch(lease.message.topic);
  }

  /** Hands the message back after delivery `attempt` failed: due again after `delay`. */
  private async retry(message: StoredMessage, attempt: number, delay: number): Promise<void> {
    const nextAttempt = attempt + 1;
    const deliverAt = this.clock.now() + delay;
    await this.store.submit(() => {
      this.store.state.retryMessage(message.messageId, nextAttempt, deliverAt);
      return {
        result: undefined,
        records: [{ type: 'retry', messageId: message.messageId, attempt: nextAttempt, deliverAt }],
      };
    });
    this.order.handBack(message, deliverAt);
  }
}
