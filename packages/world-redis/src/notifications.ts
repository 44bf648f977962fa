import type { Cluster, Redis } from 'ioredis';

/** A subscription taken *before* reading state, so a change between the read and the wait is not lost. */
export interface Waiter {
  /** Resolves at the first notification since the waiter was made, on timeout, abort or close. */
  wait(timeoutMs: number, signal?: AbortSignal): Promise<void>;
  cancel(): void;
}

/**
 * One pub/sub connection per World (subscribing takes a connection over, so it is never the
 * command connection), fanned out to in-process subscribers by key. Scripts PUBLISH on the
 * World's channel in the same atomic step as their write, so a notification means the write
 * is there. Pub/sub is fire-and-forget: whenever the connection drops or comes back every
 * subscriber is woken to re-check, and callers also poll slowly as the fallback.
 */
export class Notifications {
  private subscriber: Redis | Cluster | undefined;
  private connecting: Promise<void> | undefined;
  private readonly subscribers = new Map<string, Set<(detail?: string) => void>>();
  private closed = false;

  constructor(
    private readonly source: Redis | Cluster,
    private readonly channel: string,
  ) {}

  /** Resolves once subscribed, or once subscribing failed (callers then fall back to polling). */
  ready(): Promise<void> {
    if (this.subscriber || this.closed) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => {
      this.connecting = undefined;
    });
    return this.connecting;
  }

  private async connect(): Promise<void> {
    // Same servers and settings; `duplicate` exists on both kinds of client.
    const subscriber = (this.source as Redis).duplicate() as Redis | Cluster;
    subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.channel) this.fire(message);
    });
    // ioredis reconnects and resubscribes by itself; messages sent meanwhile are lost.
    subscriber.on('ready', () => this.wakeAll());
    subscriber.on('error', () => {});
    try {
      await subscriber.subscribe(this.channel);
    } catch {
      subscriber.disconnect();
      return;
    }
    if (this.closed) {
      subscriber.disconnect();
      return;
    }
    this.subscriber = subscriber;
    this.wakeAll();
  }

  /**
   * `heeds`: which details wake the waiter. One it does not heed passes it by, so a watch
   * keeps one subscription however many changes go past; a message without a detail, and
   * the wake-up of every waiter after a reconnect, always wake it.
   */
  waiter(key: string, heeds: (detail: string) => boolean = () => true): Waiter {
    let fired = false;
    let wake: (() => void) | undefined;
    const callback = (detail?: string) => {
      if (detail !== undefined && !heeds(detail)) return;
      fired = true;
      wake?.();
    };
    this.add(key, callback);
    return {
      wait: (timeoutMs, signal) =>
        new Promise<void>((resolve) => {
          const done = () => {
            clearTimeout(timer);
            signal?.removeEventListener('abort', done);
            this.remove(key, callback);
            resolve();
          };
          if (fired || this.closed || signal?.aborted) {
            this.remove(key, callback);
            resolve();
            return;
          }
          const timer = setTimeout(done, timeoutMs);
          signal?.addEventListener('abort', done, { once: true });
          wake = done;
        }),
      cancel: () => this.remove(key, callback),
    };
  }

  /** A standing subscription (a queue consumer's wake-up); returns the unsubscribe. */
  subscribe(key: string, callback: (detail?: string) => void): () => void {
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

  /** A message is `key` or `key detail` (keys hold no spaces); subscribers get the detail. */
  private fire(message: string): void {
    const space = message.indexOf(' ');
    const key = space < 0 ? message : message.slice(0, space);
    const detail = space < 0 ? undefined : message.slice(space + 1);
    for (const callback of [...(this.subscribers.get(key) ?? [])]) callback(detail);
  }

  /** Wakes every subscriber: they re-check state (after a reconnect) or see the World closing. */
  wakeAll(): void {
    for (const set of [...this.subscribers.values()]) for (const callback of [...set]) callback();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeAll();
    await this.connecting;
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    subscriber?.disconnect();
  }
}
