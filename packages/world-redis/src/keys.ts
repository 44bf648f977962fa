/*
 * Key layout. The store is split into a fixed number of partitions; partition n's keys all
 * start with `<prefix>:{n}`, and Redis Cluster hashes only the part in braces, so one
 * partition is one hash slot. A run lives in the partition of its id, with everything
 * about it (log, views, streams, hook index) and the queue messages its appends send to
 * its own partition: one append touches one slot and is one script. A queue message lives
 * in the partition of its group key (else its idempotency key, else anywhere), so a group
 * and its idempotency index are in one slot too. A hook token's claim lives in the
 * partition of the token. See the README for every key.
 */

/** FNV-1a, 32 bits: stable across processes and versions, which the layout depends on. */
export function hash32(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index += 1) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

export class Keys {
  /** The pub/sub channel every change is announced on, with what changed as the message. */
  readonly channel: string;

  constructor(
    readonly prefix: string,
    readonly partitions: number,
  ) {
    this.channel = `${prefix}:changes`;
  }

  /** The key prefix (with hash tag) of partition `index`. */
  base(index: number): string {
    return `${this.prefix}:{${index}}`;
  }

  partitionOf(id: string): number {
    return hash32(id) % this.partitions;
  }

  /** The partition a run lives in. */
  runBase(runId: string): string {
    return this.base(this.partitionOf(`run:${runId}`));
  }

  /**
   * The partition a queue message lives in: its group's, else its idempotency key's, else
   * `fallback`. A group lives where a run of the same id would: the engine groups a run's
   * messages by its run id, so the wakes an append queues stay in its own partition and
   * need no relay.
   */
  messagePartition(topic: string, options: { groupKey?: string; idempotencyKey?: string }, fallback: number): number {
    if (options.groupKey !== undefined) return this.partitionOf(`run:${options.groupKey}`);
    if (options.idempotencyKey !== undefined) return this.partitionOf(`idem:${topic}:${options.idempotencyKey}`);
    return fallback;
  }

  /**
   * The partition a claim's message lives in, from the claim alone: its group's, else the
   * one its id hashes to. The World mints the id of every ungrouped message it queues so
   * that it hashes to where the message lives (message-id.ts); an id a writer chose for a
   * claim decides where the message goes instead.
   */
  claimPartition(claim: { groupKey?: string; messageId: string }): number {
    return claim.groupKey === undefined ? this.partitionOf(claim.messageId) : this.partitionOf(`run:${claim.groupKey}`);
  }

  /** Where a hook token's claim lives. */
  tokenKey(token: string): string {
    return `${this.base(this.partitionOf(`token:${token}`))}:tok:${token}`;
  }

  /** Records the partition count; a store opened with another count would scatter its keys. */
  get metaKey(): string {
    return `${this.base(0)}:meta`;
  }

  run(base: string, runId: string) {
    return {
      run: `${base}:r:${runId}`,
      events: `${base}:e:${runId}`,
      steps: `${base}:s:${runId}`,
      stepOrder: `${base}:so:${runId}`,
      hooks: `${base}:h:${runId}`,
      hookOrder: `${base}:ho:${runId}`,
      waits: `${base}:w:${runId}`,
      waitOrder: `${base}:wo:${runId}`,
      streams: `${base}:x:${runId}`,
      streamOrder: `${base}:xo:${runId}`,
      chunks: (name: string) => `${base}:xc:${runId}:${name}`,
    };
  }
}

/**
 * Notification messages on `Keys.channel`. A run's appends announce `e:<runId> <lastSeq>
 * <status>`: the run's tail after the append, so a watch that only waits for the run to end
 * can let the others pass without reading the run. (Older Worlds sent the key alone, which
 * every watch takes as "look again".)
 */
export const eventKey = (runId: string) => `e:${runId}`;

/** The status an append's notification carries (see `eventKey`), or undefined if it carries none. */
export function statusInEventDetail(detail: string): string | undefined {
  const space = detail.indexOf(' ');
  return space < 0 ? undefined : detail.slice(space + 1);
}
export const queueKey = (topic: string) => `q:${topic}`;
export const streamKey = (runId: string) => `s:${runId}`;
