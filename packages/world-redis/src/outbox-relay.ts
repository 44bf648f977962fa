import type { Store } from './store.js';

/** An outbox entry as scripts/append.lua wrote it: a message to queue, or an acknowledgement to settle. */
type OutboxEntry =
  | { ack?: undefined; base: string; topic: string }
  | { ack: true; base: string; id: string; token: string; since: number };

/** How long an outbox entry may wait for the process that wrote it before any process relays it. */
const orphanAfterMs = 5_000;

/**
 * A crash point for the kill-between-steps tests: called between the two halves of a
 * cross-slot step. Production code never sets it.
 */
export const crossSlotProbe: { between?: (step: 'append' | 'relay' | 'token-claim') => void } = {};

/**
 * The outbox's second half. An append whose messages (or acknowledged claims) belong to
 * another partition cannot write them there in its own script (another slot), so it writes
 * them to its partition's outbox, atomically with its events; this relay then carries each
 * to its partition and removes it from the outbox. Two steps, not atomic: a crash between
 * them leaves the entry in the outbox, and a sweep (by any process with a consumer) relays
 * it again after `orphanAfterMs`. Both are idempotent: a message is queued once however
 * many times it is relayed (send.lua, by its id), and a claim is acknowledged once.
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

  /**
   * Carries one outbox entry to its partition: a message is queued there (leased to its
   * writer, if it is a claim that can hold), an acknowledgement settles its claim there if
   * the lease held at the append's commit (claim_acknowledge in scripts/lib.lua). Resolves
   * whether the entry's claim holds (false for anything but a claimed message).
   */
  async relay(sourceBase: string, entry: string): Promise<boolean> {
    const item = JSON.parse(entry) as OutboxEntry;
    const { channel } = this.store.keys;
    let held = false;
    if (item.ack === true) {
      await this.store.script('settle', `${item.base}:m:${item.id}`, {
        base: item.base,
        channel,
        id: item.id,
        token: item.token,
        mode: 'ack',
        since: item.since,
      });
    } else {
      const reply = await this.store.script<{ held: boolean }>('send', `${item.base}:q:${item.topic}:due`, {
        base: item.base,
        channel,
        retention: this.retentionMs,
        message: item,
      });
      held = reply.held === true;
    }
    crossSlotProbe.between?.('relay');
    const client = await this.store.client();
    await client.zrem(`${sourceBase}:outbox`, entry);
    return held;
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
