import { randomUUID } from 'node:crypto';
import {
  assertStorableJson,
  type ClaimOutcome,
  type ConsumeOptions,
  consumeOptionsSchema,
  InvalidInputError,
  type JsonValue,
  jsonValueSchema,
  parseInput,
  type QueueClaim,
  type QueueConsumer,
  type QueueHandler,
  type SendOptions,
  type SendResult,
  sendOptionsSchema,
  topicSchema,
  type WorldQueue,
} from '@cairn/core/world';
import { asList } from './codec.js';
import { queueKey } from './keys.js';
import { newMessageId, newMessageIdIn } from './message-id.js';
import type { Notifications } from './notifications.js';
import type { OutboxRelay } from './outbox-relay.js';
import { extendClaim, settleClaim, settleLease } from './redis-claims.js';
import { type Consumer, deliver, type Leased } from './redis-delivery.js';
import type { Store } from './store.js';

export interface QueueSettings {
  defaultLeaseMs: number;
  idempotencyRetentionMs: number;
  maxPayloadBytes: number;
  /** Fallback poll when no notification arrives. */
  pollIntervalMs: number;
}

/**
 * The queue lives in Redis (scripts lease.lua, settle.lua and queue_send in lib.lua); this
 * side runs consumers. A topic's messages are spread over the partitions, so a consumer
 * leases from each in turn. It is woken by pub/sub on the topic (sends and settlements
 * publish in the same script), by a timer for the next due message it learned of, and by a
 * slow poll as the fallback. Each message leased is handed to the handler and settled by
 * redis-delivery.ts.
 */
export class RedisQueue implements WorldQueue {
  private readonly consumers = new Set<Consumer>();

  constructor(
    private readonly store: Store,
    private readonly notifications: Notifications,
    private readonly relay: OutboxRelay,
    private readonly settings: QueueSettings,
  ) {}

  async send(topic: string, payload: JsonValue, options?: SendOptions): Promise<SendResult> {
    this.store.assertOpen();
    parseInput(topicSchema, topic, 'topic');
    parseInput(jsonValueSchema, payload, 'payload');
    const parsed = parseInput(sendOptionsSchema, options, 'options') ?? {};
    const json = JSON.stringify(payload);
    assertStorableJson(json, 'payload', payload);
    const size = Buffer.byteLength(json);
    if (size > this.settings.maxPayloadBytes) {
      throw new InvalidInputError({
        field: 'payload',
        value: `${size} bytes`,
        reason: `must be at most ${this.settings.maxPayloadBytes} bytes`,
      });
    }
    const { keys } = this.store;
    // An ungrouped keyed message lives with its key, under an id that says so (Keys.claimPartition).
    const messageId =
      parsed.groupKey === undefined && parsed.idempotencyKey !== undefined
        ? newMessageIdIn(keys, keys.messagePartition(topic, parsed, 0))
        : newMessageId();
    const base = keys.base(keys.messagePartition(topic, parsed, keys.partitionOf(messageId)));
    const reply = await this.store.script<{ id: string; deduplicated: boolean }>('send', `${base}:q:${topic}:due`, {
      base,
      channel: keys.channel,
      retention: this.settings.idempotencyRetentionMs,
      message: {
        id: messageId,
        topic,
        payload: json,
        delay: parsed.delayMs ?? 0,
        ...(parsed.groupKey === undefined ? {} : { group: parsed.groupKey }),
        ...(parsed.idempotencyKey === undefined ? {} : { idem: parsed.idempotencyKey }),
      },
    });
    return { messageId: reply.id, deduplicated: reply.deduplicated };
  }

  extendClaim(claim: QueueClaim, leaseMs: number): Promise<boolean> {
    return extendClaim(this.store, claim, leaseMs);
  }

  settleClaim(claim: QueueClaim, outcome: ClaimOutcome): Promise<boolean> {
    return settleClaim(this.store, claim, outcome);
  }

  consume(topic: string, handler: QueueHandler, options?: ConsumeOptions): QueueConsumer {
    this.store.assertNotClosing();
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
      pumping: undefined,
      again: false,
      hinted: new Set(),
      full: true,
      dueTimer: undefined,
      dueAt: Number.POSITIVE_INFINITY,
      pollTimer: setInterval(() => {
        this.pump(consumer);
        this.relay.track(this.relay.sweep());
      }, this.settings.pollIntervalMs),
      unsubscribe: () => {},
    };
    consumer.unsubscribe = this.notifications.subscribe(queueKey(topic), (base) => this.pump(consumer, base));
    this.consumers.add(consumer);
    // Subscribe first, then the first lease: a send in between is either seen or notified.
    void this.notifications.ready().then(() => this.pump(consumer));
    return { stop: () => this.stop(consumer) };
  }

  private async stop(consumer: Consumer): Promise<void> {
    consumer.stopped = true;
    consumer.unsubscribe();
    clearInterval(consumer.pollTimer);
    clearTimeout(consumer.dueTimer);
    while (consumer.pumping || consumer.running.size > 0) {
      await consumer.pumping;
      await Promise.allSettled([...consumer.running]);
    }
    // Listed until its handlers have settled: a close() that begins while this stop() is
    // still waiting (its caller did not await it) must wait for those handlers too.
    this.consumers.delete(consumer);
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((consumer) => this.stop(consumer)));
  }

  /** Leases while there are free slots and due messages; calls made meanwhile coalesce into one more round. */
  private pump(consumer: Consumer, base?: string): void {
    if (consumer.stopped) return;
    if (base === undefined) consumer.full = true;
    else consumer.hinted.add(base);
    if (consumer.pumping) {
      consumer.again = true;
      return;
    }
    consumer.pumping = (async () => {
      try {
        do {
          consumer.again = false;
          await this.leaseRound(consumer);
        } while (consumer.again && !consumer.stopped);
      } catch {
        // Redis unreachable or World closing: the poll interval tries again.
      } finally {
        consumer.pumping = undefined;
      }
    })();
  }

  /**
   * One pass over the hinted partitions, or all of them. It first reads each one's earliest
   * message (and the server clock), then leases from the due ones earliest first: messages
   * of a topic spread over partitions still come out close to their due order.
   */
  private async leaseRound(consumer: Consumer): Promise<void> {
    const { keys } = this.store;
    const full = consumer.full;
    const bases = full ? Array.from({ length: keys.partitions }, (_, index) => keys.base(index)) : [...consumer.hinted];
    consumer.full = false;
    consumer.hinted.clear();
    const client = await this.store.client();
    const [[seconds, micros], heads] = await Promise.all([
      client.time(),
      Promise.all(bases.map((base) => client.zrange(`${base}:q:${consumer.topic}:due`, '0', '0', 'WITHSCORES'))),
    ]);
    const now = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
    let nextDue = Number.POSITIVE_INFINITY;
    const due: { base: string; score: number; id: string }[] = [];
    heads.forEach((head, index) => {
      if (head.length < 2) return;
      const score = Number(head[1]);
      if (score <= now) due.push({ base: bases[index]!, score, id: head[0]! });
      else nextDue = Math.min(nextDue, score);
    });
    due.sort((x, y) => x.score - y.score || (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
    for (const { base } of due) {
      const free = consumer.concurrency - consumer.inFlight;
      if (consumer.stopped) return;
      if (free <= 0) {
        // Freed slots pump again; remember where work is waiting.
        consumer.hinted.add(base);
        continue;
      }
      const reply = await this.lease(consumer, base, free);
      if (reply.next !== null) nextDue = Math.min(nextDue, reply.next);
      // A full lease may have left more behind in this partition.
      if (reply.leased === free) {
        consumer.hinted.add(base);
        consumer.again = true;
      }
    }
    this.armDueTimer(consumer, nextDue, now, full);
  }

  private async lease(consumer: Consumer, base: string, free: number) {
    const token = randomUUID();
    const { initialMs, factor, maxMs } = consumer.backoff;
    const reply = await this.store.script<{ now: number; next: number | null; messages: Leased[] }>(
      'lease',
      `${base}:q:${consumer.topic}:due`,
      { base, topic: consumer.topic, n: free, token, leaseMs: consumer.leaseMs, initialMs, factor, maxMs },
    );
    const messages = asList(reply.messages);
    if (consumer.stopped) {
      for (const message of messages) {
        await settleLease(this.store, base, message.id, token, { mode: 'unlease' }).catch(() => {});
      }
      return { now: reply.now, next: reply.next, leased: 0 };
    }
    for (const message of messages) deliver(this.store, consumer, base, message, token, () => this.pump(consumer));
    return { now: reply.now, next: reply.next, leased: messages.length };
  }

  /** A timer for the next due time (a delayed message, or a lease that will run out), on the server's clock. */
  private armDueTimer(consumer: Consumer, nextDue: number, now: number, full: boolean): void {
    // A full round saw every partition, so its answer replaces the timer; a partial one may only bring it forward.
    if (!full && consumer.dueAt <= nextDue) return;
    clearTimeout(consumer.dueTimer);
    consumer.dueTimer = undefined;
    consumer.dueAt = Number.POSITIVE_INFINITY;
    // Past the poll interval the poll gets there first.
    if (!Number.isFinite(nextDue) || consumer.stopped || nextDue - now > this.settings.pollIntervalMs) return;
    consumer.dueAt = nextDue;
    consumer.dueTimer = setTimeout(() => this.pump(consumer), Math.max(0, nextDue - now) + 1);
  }
}
