import {
  type ClaimOutcome,
  type Clock,
  type ConsumeOptions,
  consumeOptionsSchema,
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
import { DelayTimers } from './delay-timers.js';
import { Deque } from './deque.js';
import { type Lease, Leases } from './local-leases.js';
import { messageRecord, parseSend } from './local-messages.js';
import type { JournalRecord, StoredMessage } from './local-state.js';
import type { LocalStore, Outcome } from './local-store.js';

interface Consumer {
  topic: string;
  handler: QueueHandler;
  concurrency: number;
  leaseMs: number;
  backoff: { initialMs: number; factor: number; maxMs: number };
  inFlight: number;
  stopped: boolean;
  /** Settles when every handler it started (and the ack or retry that follows) has finished. */
  running: Set<Promise<void>>;
}

export const groupId = (message: Pick<StoredMessage, 'topic' | 'groupKey'>) =>
  message.groupKey === undefined ? undefined : `${message.topic}\u0000${message.groupKey}`;

/**
 * Sends are journalled; leases live in memory only (local-leases.ts). A process that dies
 * holds no leases after a restart, so every unacknowledged message is deliverable again:
 * at-least-once. Each delivery journals the attempt number the next one will carry before
 * its handler runs, so a redelivery after a crash counts the attempt that crashed.
 *
 * Dispatch is O(1) per message: due messages wait in a per-topic FIFO, and a message
 * whose group is busy is parked behind that group until its lease ends. A message coming
 * back from a retry was its group's oldest, so it parks at the front of the group: it is
 * the group's next delivery (only a message leased during its backoff may overtake it).
 */
export class LocalQueue implements WorldQueue {
  private readonly consumers = new Map<string, Consumer[]>();
  /** Consumers whose stop() is waiting for their handlers. */
  private readonly stopping = new Set<Consumer>();
  private readonly ready = new Map<string, Deque<string>>();
  private readonly parked = new Map<string, Deque<string>>();
  /** Messages that were delivered before and are waiting to be delivered again. */
  private readonly retried = new Set<string>();
  private readonly busyGroups = new Set<string>();
  /** Leased messages, a consumer's or a claim's: when one runs out, its message is handed back. */
  readonly leases = new Leases((lease) => void this.lapse(lease));
  private readonly timers: DelayTimers;

  /**
   * `clock` stamps messages and judges when a delayed one is due; leases stay on real time,
   * since they judge whether a consumer is still alive.
   */
  constructor(
    private readonly store: LocalStore,
    private readonly settings: { defaultLeaseMs: number; idempotencyRetentionMs: number; maxPayloadBytes: number },
    private readonly clock: Clock,
  ) {
    this.timers = new DelayTimers(clock, (messageId) => this.makeReady(messageId));
  }

  /** After the store opened: everything not acknowledged is due now or at its deliverAt. */
  hydrate(): void {
    for (const message of this.store.state.messages.values()) {
      if (message.ackedAt === undefined) this.schedule(message);
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
      afterCommit: () => this.schedule(message),
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
    this.timers.clear();
    this.leases.clear();
  }

  private schedule(message: StoredMessage): void {
    if (message.deliverAt <= this.clock.now()) this.makeReady(message.messageId);
    else this.timers.add(message.messageId, message.deliverAt);
  }

  private makeReady(messageId: string, front = false): void {
    const message = this.store.state.messages.get(messageId);
    if (!message || message.ackedAt !== undefined) return;
    const group = groupId(message);
    if (group !== undefined && this.retried.has(messageId)) {
      // Back from a retry, it is still its group's oldest message: first in line for the
      // group, whether the group is busy now (park at the front) or free (front of the topic).
      if (this.busyGroups.has(group)) {
        this.park(group, messageId);
        return;
      }
      front = true;
    }
    let queue = this.ready.get(message.topic);
    if (!queue) {
      queue = new Deque();
      this.ready.set(message.topic, queue);
    }
    if (front) queue.unshift(messageId);
    else queue.push(messageId);
    this.dispatch(message.topic);
  }

  private park(group: string, messageId: string): void {
    let backlog = this.parked.get(group);
    if (!backlog) {
      backlog = new Deque();
      this.parked.set(group, backlog);
    }
    if (this.retried.has(messageId)) backlog.unshift(messageId);
    else backlog.push(messageId);
  }

  private dispatch(topic: string): void {
    const queue = this.ready.get(topic);
    if (!queue || this.store.isClosed) return;
    let consumers = (this.consumers.get(topic) ?? []).filter((consumer) => consumer.inFlight < consumer.concurrency);
    while (queue.length > 0 && consumers.length > 0) {
      const messageId = queue.shift()!;
      const message = this.store.state.messages.get(messageId);
      if (!message || message.ackedAt !== undefined || this.leases.has(messageId)) continue;
      const group = groupId(message);
      if (group !== undefined && this.busyGroups.has(group)) {
        this.park(group, messageId);
        continue;
      }
      const consumer = consumers[0]!;
      this.deliver(consumer, message);
      // Round-robin: the consumer just used goes to the back, or drops out when full.
      consumers = [...consumers.slice(1), ...(consumer.inFlight < consumer.concurrency ? [consumer] : [])];
    }
  }

  private deliver(consumer: Consumer, message: StoredMessage): void {
    this.holdGroup(message);
    this.retried.delete(message.messageId);
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

  /** Takes the message's group for a lease; false when another lease holds it. */
  holdGroup(message: StoredMessage): boolean {
    const group = groupId(message);
    if (group === undefined) return true;
    if (this.busyGroups.has(group)) return false;
    this.busyGroups.add(group);
    return true;
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
        this.releaseGroup(message);
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
    this.retried.add(message.messageId);
    const group = groupId(message);
    // Due at once: it is still its group's oldest, so it goes before the rest of the group.
    if (group !== undefined && deliverAt <= this.clock.now()) {
      this.park(group, message.messageId);
      this.releaseGroup(message);
      return;
    }
    this.releaseGroup(message);
    this.schedule(message);
  }

  releaseGroup(message: StoredMessage): void {
    const group = groupId(message);
    if (group === undefined) return;
    this.busyGroups.delete(group);
    const next = this.parked.get(group)?.shift();
    if (this.parked.get(group)?.length === 0) this.parked.delete(group);
    // The group's next message goes to the front: it has waited behind the one just done.
    if (next !== undefined) this.makeReady(next, true);
  }
}
