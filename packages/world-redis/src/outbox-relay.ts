import type { Store } from './store.js';

/** How long an outbox entry may wait for the process that wrote it before any process relays it. */
const orphanAfterMs = 5_000;

/**
 * A crash point for the kill-between-steps tests: called between the two halves of a
 * cross-slot step. Production code never sets it.
 */
export const crossSlotProbe: { between?: (step: 'append' | 'relay' | 'token-claim') => void } = {};

/**
 * The outbox's second half. An append whose messages belong to another partition cannot
 * write them there in its own script (another slot), so it writes them to its partition's
 * outbox, atomically with its events; this relay then copies each to its partition's queue
 * and removes it from the outbox. Two steps, not atomic: a crash between them leaves the
 * entry in the outbox, and a sweep (by any process with a consumer) relays it again after
 * `orphanAfterMs`. The copy is idempotent on the message id (send.lua), so a message is
 * queued once however many times it is relayed.
 */
export class OutboxRelay {
  private readonly pending = new Set<Promise<unknown>>();
  private sweeping: Promise<void> | undefined;
  private lastPrune = 0;
  private lastSweep = 0;

  constructor(
    private readonly store: Store,
    private readonly retentionMs: number,
  ) {}

  /** Keeps a background step's promise until it settles, so close() can wait for it. */
  track(promise: Promise<unknown>): void {
    const tracked = promise.catch(() => {}).finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  async relay(sourceBase: string, entry: string): Promise<void> {
    const message = JSON.parse(entry) as { base: string; topic: string };
    const { channel } = this.store.keys;
    await this.store.script('send', `${message.base}:q:${message.topic}:due`, {
      base: message.base,
      channel,
      retention: this.retentionMs,
      message,
    });
    crossSlotProbe.between?.('relay');
    const client = await this.store.client();
    await client.zrem(`${sourceBase}:outbox`, entry);
  }

  /** Relays orphaned outbox entries in every partition, and prunes acknowledged messages once a minute. */
  sweep(): Promise<void> {
    // Every consumer's poll asks; once a second per World is plenty for orphans.
    if (this.sweeping === undefined && Date.now() - this.lastSweep < 1_000) return Promise.resolve();
    this.lastSweep = Date.now();
    this.sweeping ??= this.sweepOnce().finally(() => {
      this.sweeping = undefined;
    });
    return this.sweeping;
  }

  private async sweepOnce(): Promise<void> {
    const client = await this.store.client();
    const { keys } = this.store;
    const prune = Date.now() - this.lastPrune > 60_000;
    if (prune) this.lastPrune = Date.now();
    await Promise.all(
      Array.from({ length: keys.partitions }, async (_, partition) => {
        const base = keys.base(partition);
        const [seconds] = await client.time();
        const cutoff = Number(seconds) * 1000 - orphanAfterMs;
        const entries = await client.zrangebyscore(`${base}:outbox`, '-inf', cutoff, 'LIMIT', 0, 100);
        for (const entry of entries) await this.relay(base, entry);
        if (prune) await this.store.script('prune', `${base}:acked`, { base, retention: this.retentionMs });
      }),
    );
  }

  async close(): Promise<void> {
    await this.sweeping?.catch(() => {});
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
