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
  systemClock,
  topicSchema,
  ulid,
  type WorldQueue,
} from '@cairn/core/world';
import { type Database, toMs } from './database.js';
import { type Notifications, queueKey } from './notifications.js';
import { extendClaim, settleClaim } from './postgres-claims.js';
import { type Consumer, deliver, type LeasedRow } from './postgres-delivery.js';
import { findByIdempotencyKeySql, leaseSql, pruneSql, sendSql, unleaseSql } from './queue-sql.js';

export interface QueueSettings {
  defaultLeaseMs: number;
  idempotencyRetentionMs: number;
  maxPayloadBytes: number;
  /** Fallback poll when no notification arrives (a lost NOTIFY, a dropped LISTEN connection). */
  pollIntervalMs: number;
}

/**
 * The queue lives in PostgreSQL; see queue-sql.ts for how leases, expiry and group
 * exclusivity work there. This side runs consumers: each leases as many messages as it
 * has free slots, woken by NOTIFY on its topic (sends, settlements), by a timer for the
 * next deliver_at it knows of, and by a slow poll as the fallback.
 */
export class PostgresQueue implements WorldQueue {
  private readonly consumers = new Set<Consumer>();
  private lastPruneAt = 0;

  constructor(
    private readonly db: Database,
    private readonly notifications: Notifications,
    private readonly settings: QueueSettings,
  ) {}

  extendClaim(claim: QueueClaim, leaseMs: number): Promise<boolean> {
    return extendClaim(this.db, claim, leaseMs);
  }

  settleClaim(claim: QueueClaim, outcome: ClaimOutcome): Promise<boolean> {
    return settleClaim(this.db, claim, outcome);
  }

  async send(topic: string, payload: JsonValue, options?: SendOptions): Promise<SendResult> {
    parseInput(topicSchema, topic, 'topic');
    parseInput(jsonValueSchema, payload, 'payload');
    const { delayMs = 0, idempotencyKey, groupKey } = parseInput(sendOptionsSchema, options, 'options') ?? {};
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
    const { tables, channel } = this.db;
    for (;;) {
      const messageId = `msg_${ulid()}`;
      const [sent] = await this.db.query<{ inserted: boolean }>(sendSql(tables), [
        messageId,
        topic,
        json,
        groupKey ?? null,
        idempotencyKey ?? null,
        delayMs,
        this.settings.idempotencyRetentionMs,
        channel,
        queueKey(topic),
        tables.injectedNow(),
      ]);
      if (sent?.inserted === true) return { messageId, deduplicated: false };
      const [earlier] = await this.db.query<{ message_id: string }>(findByIdempotencyKeySql(tables), [
        topic,
        idempotencyKey,
      ]);
      // Gone between the two statements (pruned): send again.
      if (earlier) return { messageId: earlier.message_id, deduplicated: true };
    }
  }

  consume(topic: string, handler: QueueHandler, options?: ConsumeOptions): QueueConsumer {
    this.db.assertNotClosing();
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
      saturated: false,
      dueTimer: undefined,
      pollTimer: setInterval(() => this.pump(consumer), this.settings.pollIntervalMs),
      unsubscribe: () => {},
    };
    const waiter = () => this.pump(consumer);
    consumer.unsubscribe = this.notifications.subscribe(queueKey(topic), waiter);
    this.consumers.add(consumer);
    // LISTEN first, then the first lease: a send in between is either seen or notified.
    void this.notifications.ready().then(waiter);
    return { stop: () => this.stop(consumer) };
  }

  private async stop(consumer: Consumer): Promise<void> {
    consumer.stopped = true;
    consumer.unsubscribe();
    clearInterval(consumer.pollTimer);
    consumer.dueTimer?.cancel();
    while (consumer.pumping || consumer.running.size > 0) {
      await consumer.pumping;
      await Promise.allSettled([...consumer.running]);
    }
    // Listed until its handlers have settled: a close() that begins while this stop() is
    // still waiting (its caller did not await it) must wait for those handlers too.
    this.consumers.delete(consumer);
  }

  /** Stops every consumer, waiting for their handlers and settlements. */
  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((consumer) => this.stop(consumer)));
  }

  /** Leases while there are free slots and due messages. Calls made meanwhile coalesce into one more round. */
  private pump(consumer: Consumer): void {
    if (consumer.stopped) return;
    if (consumer.pumping) {
      consumer.again = true;
      return;
    }
    consumer.pumping = (async () => {
      try {
        await this.db.open();
        do {
          consumer.again = false;
          const free = consumer.concurrency - consumer.inFlight;
          if (consumer.stopped) break;
          if (free <= 0) {
            consumer.saturated = true;
            break;
          }
          const leased = await this.lease(consumer, free);
          if (leased === free) consumer.again = true;
        } while (consumer.again);
        this.prune();
      } catch {
        // Database unreachable or World closing: the poll interval tries again.
      } finally {
        consumer.pumping = undefined;
      }
    })();
  }

  private async lease(consumer: Consumer, free: number): Promise<number> {
    const token = randomUUID();
    const { initialMs, factor, maxMs } = consumer.backoff;
    const rows = await this.db.query<LeasedRow>(leaseSql(this.db.tables), [
      consumer.topic,
      free,
      token,
      consumer.leaseMs,
      initialMs,
      factor,
      maxMs,
    ]);
    const messages = rows.filter((row) => row.message_id !== null);
    if (consumer.stopped) {
      await this.unlease(consumer.topic, token, messages);
      return 0;
    }
    for (const row of messages) deliver(this.db, consumer, row, token, () => this.pump(consumer));
    this.armDueTimer(consumer, rows[0]);
    return messages.length;
  }

  /**
   * A timer for the next deliver_at (a delayed message, or a lease that will run out). On
   * the database clock it waits as long as the database says is left; on an injected clock
   * it waits on that clock for the instant itself, so moving the clock fires it.
   */
  private armDueTimer(consumer: Consumer, row: LeasedRow | undefined): void {
    consumer.dueTimer?.cancel();
    consumer.dueTimer = undefined;
    if (!row || row.next_due === null) return;
    const pump = () => this.pump(consumer);
    const injected = this.db.clock;
    if (injected !== undefined) {
      consumer.dueTimer = injected.schedule(toMs(row.next_due), pump);
      return;
    }
    const delay = Math.max(0, toMs(row.next_due) - toMs(row.now)) + 1;
    consumer.dueTimer = systemClock.schedule(Date.now() + delay, pump);
  }

  private async unlease(topic: string, token: string, rows: LeasedRow[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db
      .query(unleaseSql(this.db.tables), [
        rows.map((row) => row.message_id),
        token,
        rows.map((row) => row.deliver_at),
        this.db.channel,
        queueKey(topic),
      ])
      .catch(() => {}); // if this fails, the leases simply run out
  }

  /** At most once a minute, in the background. */
  private prune(): void {
    const now = Date.now();
    if (now - this.lastPruneAt < 60_000) return;
    this.lastPruneAt = now;
    this.db.query(pruneSql(this.db.tables), [this.settings.idempotencyRetentionMs]).catch(() => {});
  }
}
