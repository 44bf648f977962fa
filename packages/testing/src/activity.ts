import type { EnqueueRequest, QueueMessage } from '@cairn/core/world';

/** A message the environment saw being sent and has not yet seen delivered. */
interface PendingMessage {
  topic: string;
  deliverAt: number;
  idempotencyKey?: string;
}

/**
 * What the environment knows about work in progress, from watching every World call its
 * client and workers make: calls in flight, and messages sent but not yet delivered. A
 * counter moves on every change, so a reader can tell that nothing happened between two
 * looks.
 */
export class Activity {
  private inFlight = 0;
  private changes = 0;
  private readonly pending: PendingMessage[] = [];
  /** Idempotency keys of messages already delivered: a later send with one was deduplicated by the World. */
  private readonly deliveredKeys = new Set<string>();
  private waiters: (() => void)[] = [];

  constructor(private readonly now: () => number) {}

  /** Counts `call` as work in flight until it settles. */
  async track<Result>(call: () => Promise<Result>): Promise<Result> {
    this.inFlight += 1;
    this.changed();
    try {
      return await call();
    } finally {
      this.inFlight -= 1;
      this.changed();
    }
  }

  /** Messages a successful send or append queued (an append's outbox). */
  sent(messages: readonly EnqueueRequest[]): void {
    const now = this.now();
    for (const { topic, options } of messages) {
      const key = options?.idempotencyKey;
      if (key !== undefined) {
        const scoped = `${topic}\u0000${key}`;
        if (this.deliveredKeys.has(scoped) || this.pending.some((message) => message.idempotencyKey === scoped))
          continue;
      }
      this.pending.push({
        topic,
        deliverAt: now + (options?.delayMs ?? 0),
        ...(key === undefined ? {} : { idempotencyKey: `${topic}\u0000${key}` }),
      });
    }
    this.changed();
  }

  /** A handler received `message`: it is no longer waiting to be delivered. */
  delivered(message: QueueMessage): void {
    const scoped = message.idempotencyKey === undefined ? undefined : `${message.topic}\u0000${message.idempotencyKey}`;
    if (scoped !== undefined) this.deliveredKeys.add(scoped);
    const index = this.pending.findIndex((candidate) =>
      scoped !== undefined
        ? candidate.idempotencyKey === scoped
        : candidate.topic === message.topic && candidate.idempotencyKey === undefined,
    );
    if (index !== -1) this.pending.splice(index, 1);
    this.changed();
  }

  /** A handler finished (either way). */
  handled(): void {
    this.changed();
  }

  /** True when a World call is in flight or a message that is due has not been delivered. */
  get busy(): boolean {
    const now = this.now();
    return this.inFlight > 0 || this.pending.some((message) => message.deliverAt <= now);
  }

  /** Moves on every change; equal readings mean nothing happened in between. */
  get version(): number {
    return this.changes;
  }

  /** Resolves on the next change. */
  next(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  private changed(): void {
    this.changes += 1;
    const waiters = this.waiters;
    this.waiters = [];
    for (const wake of waiters) wake();
  }
}
