import { Client, type Pool } from 'pg';
import { parseTail, RunTails } from './run-tails.js';

/*
 * A notification is sent only once its write has committed: writers call pg_notify(channel,
 * key) inside their transaction, or, for appends, publish it right after the commit
 * (notification-publisher.ts). Keys name what changed. Ids and topics
 * never contain spaces and stream names never contain control characters, so these
 * separators cannot be forged by a name.
 */
const eventPrefix = 'event ';
export const eventKey = (runId: string) => `${eventPrefix}${runId}`;
/**
 * What an append notifies: its run's key, then (after a record separator, which no key
 * contains) the run's new tail, so a watcher learns it without a read.
 */
export const eventNotification = (runId: string, detail: string) => `${eventKey(runId)}\u001e${detail}`;
export const queueKey = (topic: string) => `queue ${topic}`;
export const streamKey = (runId: string, name: string) => `stream ${runId}\u001f${name}`;

/** A subscription taken *before* reading state, so a change between the read and the wait is not lost. */
export interface Waiter {
  /**
   * Resolves at the first notification since the waiter was made (with the detail it
   * carried, if any), or with undefined on timeout, abort, close or a reconnection.
   */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<string | undefined>;
  cancel(): void;
}

/** Waits until the first of `waiters` wakes (or the timeout, or the signal), and drops the others. */
export async function firstWake(waiters: readonly Waiter[], timeoutMs: number, signal: AbortSignal | undefined) {
  if (waiters.length === 1) {
    await waiters[0]!.wait(timeoutMs, signal);
    return;
  }
  const woken = new AbortController();
  const stop = signal === undefined ? woken.signal : AbortSignal.any([signal, woken.signal]);
  try {
    await Promise.race(waiters.map((waiter) => waiter.wait(timeoutMs, stop)));
  } finally {
    woken.abort();
  }
}

/**
 * One LISTEN connection per World, fanned out to in-process subscribers by key. It is
 * opened on first use and reopened after a failure; every subscriber is woken whenever the
 * connection drops or comes back, because notifications sent meanwhile are lost. Callers
 * also poll at a slow interval, so a dead listener delays them but never strands them.
 */
export class Notifications {
  private client: Client | undefined;
  private connecting: Promise<void> | undefined;
  private readonly subscribers = new Map<string, Set<(detail?: string) => void>>();
  /** The tails of watched runs, kept current from the notifications. */
  readonly tails = new RunTails();
  private retryDelayMs = 250;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(
    private readonly pool: Pool,
    private readonly channel: string,
  ) {}

  /** Resolves once LISTEN is active, or once connecting failed (callers then fall back to polling). */
  ready(): Promise<void> {
    if (this.client || this.closed) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    // A dedicated connection with the pool's settings: LISTEN belongs to a session, and
    // holding one of the pool's own connections forever would starve a small pool.
    const client = new Client((this.pool as { options?: ConstructorParameters<typeof Client>[0] }).options);
    client.on('error', () => this.lost(client));
    client.on('end', () => this.lost(client));
    client.on('notification', (message) => {
      if (message.channel !== this.channel || message.payload === undefined) return;
      this.deliverHere(message.payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel}"`);
    } catch {
      client.end().catch(() => {});
      this.scheduleReconnect();
      return;
    }
    if (this.closed) {
      await client.end().catch(() => {});
      return;
    }
    this.client = client;
    this.retryDelayMs = 250;
    this.tails.forgetAll();
    // Anything sent before LISTEN took effect was missed: let everyone re-check.
    this.wakeAll();
  }

  private lost(client: Client): void {
    if (this.client !== client) return;
    this.client = undefined;
    this.tails.forgetAll();
    client.end().catch(() => {});
    if (this.closed) return;
    this.wakeAll();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed || this.retryTimer || this.subscribers.size === 0) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.ready();
    }, this.retryDelayMs);
    this.retryTimer.unref();
    this.retryDelayMs = Math.min(this.retryDelayMs * 2, 5_000);
  }

  /**
   * The listener's generation while LISTEN is active, else undefined. A state read that
   * starts and ends in one generation is followed by a notification for every later change.
   */
  listeningGeneration(): number | undefined {
    return this.client === undefined ? undefined : this.tails.generation;
  }

  /**
   * `heeds`: which details wake the waiter. One it does not heed passes it by, so a watch
   * that waits for one kind of change keeps a single subscription while others go past. A
   * wake without a detail (a reconnection, closing) always counts.
   */
  waiter(key: string, heeds: (detail: string) => boolean = () => true): Waiter {
    let fired = false;
    let firedDetail: string | undefined;
    let wake: ((detail?: string) => void) | undefined;
    const callback = (detail?: string) => {
      if (detail !== undefined && !heeds(detail)) return;
      fired = true;
      firedDetail = detail;
      wake?.(detail);
    };
    this.add(key, callback);
    return {
      wait: (timeoutMs, signal) =>
        new Promise<string | undefined>((resolve) => {
          const done = (detail?: string) => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', abort);
            this.remove(key, callback);
            resolve(detail);
          };
          const abort = () => done();
          if (fired || this.closed || signal?.aborted) {
            this.remove(key, callback);
            resolve(firedDetail);
            return;
          }
          const timer = setTimeout(abort, timeoutMs);
          signal?.addEventListener('abort', abort, { once: true });
          wake = done;
        }),
      cancel: () => this.remove(key, callback),
    };
  }

  /**
   * Delivers an append's notification to this World's own subscribers at once, as the
   * listener would: those waiting here need not wait for the round trip through the
   * database. The listener delivers it again when it arrives, which a waiter treats like
   * any notification of a tail it already knows.
   */
  deliverHere(notification: string): void {
    const separator = notification.indexOf('\u001e');
    if (separator < 0) this.fire(notification);
    else this.fire(notification.slice(0, separator), notification.slice(separator + 1));
  }

  /** A standing subscription (a queue consumer's wake-up); returns the unsubscribe. */
  subscribe(key: string, callback: () => void): () => void {
    this.add(key, callback);
    return () => this.remove(key, callback);
  }

  private add(key: string, callback: (detail?: string) => void): void {
    const set = this.subscribers.get(key) ?? new Set();
    this.subscribers.set(key, set);
    set.add(callback);
  }

  private remove(key: string, callback: (detail?: string) => void): void {
    const set = this.subscribers.get(key);
    if (!set) return;
    set.delete(callback);
    if (set.size === 0) this.subscribers.delete(key);
  }

  private fire(key: string, detail?: string): void {
    if (detail !== undefined && key.startsWith(eventPrefix)) {
      const tail = parseTail(detail);
      if (tail !== undefined) this.tails.notified(key.slice(eventPrefix.length), tail);
    }
    for (const callback of [...(this.subscribers.get(key) ?? [])]) callback(detail);
  }

  /** How many callbacks are subscribed, over every key: a waiter that is never cancelled shows up here. */
  get subscriberCount(): number {
    let count = 0;
    for (const set of this.subscribers.values()) count += set.size;
    return count;
  }

  /** Wakes every subscriber: they re-check state (after a reconnect) or see the World closing. */
  wakeAll(): void {
    for (const set of [...this.subscribers.values()]) for (const callback of [...set]) callback();
  }

  /** Wakes every waiter (they see the World closed) and drops the connection. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.wakeAll();
    await this.connecting;
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => {});
  }
}
