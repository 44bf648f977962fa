import type { EnqueueRequest, QueueMessage } from '@cairn/core/world';

/** A message the environment saw being sent and has not yet seen delivered. */
interface PendingMessage {
  topic: string;
  deliverAt: number;
  idempotencyKey?: string;
  /** Topic and group key: the queue delivers it only once no message of its group is leased. */
  group?: string;
}

const groupOf = (topic: string, groupKey: string | undefined) =>
  groupKey === undefined ? undefined : `${topic}\u0000${groupKey}`;

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
  /** Groups with a delivery being handled, and how many. */
  private readonly busyGroups = new Map<string, number>();
  /** Idempotency keys of messages already delivered: a later send with one was deduplicated by the World. */
  private readonly deliveredKeys = new Set<string>();
  /** Step attempts started and not yet recorded, by run then step id. */
  private readonly attempts = new Map<string, Set<string>>();
  private nextChange: { promise: Promise<void>; resolve: () => void } | undefined;

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
        ...(options?.groupKey === undefined ? {} : { group: groupOf(topic, options.groupKey)! }),
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
    const group = groupOf(message.topic, message.groupKey);
    if (group !== undefined) this.busyGroups.set(group, (this.busyGroups.get(group) ?? 0) + 1);
    this.changed();
  }

  /** The handler of `message` finished (either way). */
  handled(message: QueueMessage): void {
    const group = groupOf(message.topic, message.groupKey);
    if (group !== undefined) {
      const count = (this.busyGroups.get(group) ?? 1) - 1;
      if (count === 0) this.busyGroups.delete(group);
      else this.busyGroups.set(group, count);
    }
    this.changed();
  }

  /** A step attempt is about to run its body. */
  attemptStarted(runId: string, stepId: string): void {
    const steps = this.attempts.get(runId) ?? new Set<string>();
    steps.add(stepId);
    this.attempts.set(runId, steps);
    this.changed();
  }

  /** An append committed: outcomes end their step's attempt, a run's end ends all of its attempts. */
  appended(runId: string, requests: readonly { eventType: string; correlationId?: string }[]): void {
    const steps = this.attempts.get(runId);
    if (!steps) return;
    for (const { eventType, correlationId } of requests) {
      if (eventType === 'run_completed' || eventType === 'run_failed' || eventType === 'run_cancelled') {
        steps.clear();
      } else if (
        (eventType === 'step_completed' || eventType === 'step_failed' || eventType === 'step_retrying') &&
        correlationId !== undefined
      ) {
        steps.delete(correlationId);
      }
    }
    if (steps.size === 0) this.attempts.delete(runId);
    this.changed();
  }

  /** A worker died: the attempts it was running died with it. */
  forgetAttempts(): void {
    this.attempts.clear();
    this.changed();
  }

  /**
   * True when a World call is in flight, a step attempt runs, or a message that is due has not been delivered
   * though it could be. A due message whose group is being handled waits for that handler,
   * which may itself be waiting for time (a pass holding for a retry about to fall due).
   */
  get busy(): boolean {
    const now = this.now();
    return (
      this.inFlight > 0 ||
      this.attempts.size > 0 ||
      this.pending.some(
        (message) => message.deliverAt <= now && (message.group === undefined || !this.busyGroups.has(message.group)),
      )
    );
  }

  /** Moves on every change; equal readings mean nothing happened in between. */
  get version(): number {
    return this.changes;
  }

  /** Resolves on the next change. */
  next(): Promise<void> {
    if (!this.nextChange) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => {
        resolve = done;
      });
      this.nextChange = { promise, resolve };
    }
    return this.nextChange.promise;
  }

  private changed(): void {
    this.changes += 1;
    const waiting = this.nextChange;
    this.nextChange = undefined;
    waiting?.resolve();
  }
}
