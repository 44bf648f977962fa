import type { Clock } from '@cairn/core/world';
import { DelayTimers } from './delay-timers.js';
import { Deque } from './deque.js';
import type { StoredMessage } from './local-records.js';
import type { LocalStore } from './local-store.js';

const groupId = (message: Pick<StoredMessage, 'topic' | 'groupKey'>) =>
  message.groupKey === undefined ? undefined : `${message.topic}\u0000${message.groupKey}`;

/**
 * The order in which messages go to consumers, at O(1) per message: due messages wait in a
 * per-topic FIFO, a delayed one on a timer until it is due, and a message whose group is
 * busy is parked behind that group until its lease ends. A message coming back from a retry
 * was its group's oldest, so it parks at the front of the group: it is the group's next
 * delivery (only a message leased during its backoff may overtake it).
 *
 * It only orders: the queue leases what `next` gives it, holding the group
 * (`holdGroup`), and releases the group once the lease is settled (`releaseGroup`,
 * `handBack`). `readied(topic)` is told whenever a message of the topic becomes due.
 */
export class DispatchOrder {
  private readonly ready = new Map<string, Deque<string>>();
  private readonly parked = new Map<string, Deque<string>>();
  /** Messages that were delivered before and are waiting to be delivered again. */
  private readonly retried = new Set<string>();
  private readonly busyGroups = new Set<string>();
  private readonly timers: DelayTimers;

  /**
   * `isLeased` says whether a lease holds a message, which is then not handed out again;
   * `clock` judges when a delayed message is due.
   */
  constructor(
    private readonly store: LocalStore,
    private readonly isLeased: (messageId: string) => boolean,
    private readonly readied: (topic: string) => void,
    private readonly clock: Clock,
  ) {
    this.timers = new DelayTimers(clock, (messageId) => this.makeReady(messageId));
  }

  /** Lines the message up: due now, or once its `deliverAt` comes. */
  schedule(message: StoredMessage): void {
    if (message.deliverAt <= this.clock.now()) this.makeReady(message.messageId);
    else this.timers.add(message.messageId, message.deliverAt);
  }

  /**
   * The next message of `topic` a consumer may lease, taken out of line; undefined when
   * none is due. Messages met on the way whose group is busy are parked behind it.
   */
  next(topic: string): StoredMessage | undefined {
    const queue = this.ready.get(topic);
    while (queue !== undefined && queue.length > 0) {
      const messageId = queue.shift()!;
      const message = this.store.state.messages.get(messageId);
      if (!message || message.ackedAt !== undefined || this.isLeased(messageId)) continue;
      const group = groupId(message);
      if (group !== undefined && this.busyGroups.has(group)) {
        this.park(group, messageId);
        continue;
      }
      return message;
    }
    return undefined;
  }

  /** Takes the message's group for a lease; false when another lease holds it. */
  holdGroup(message: StoredMessage): boolean {
    const group = groupId(message);
    if (group === undefined) return true;
    if (this.busyGroups.has(group)) return false;
    this.busyGroups.add(group);
    return true;
  }

  /** Frees the message's group; the group's next message, if one waits, is due at once. */
  releaseGroup(message: StoredMessage): void {
    const group = groupId(message);
    if (group === undefined) return;
    this.busyGroups.delete(group);
    const next = this.parked.get(group)?.shift();
    if (this.parked.get(group)?.length === 0) this.parked.delete(group);
    // The group's next message goes to the front: it has waited behind the one just done.
    if (next !== undefined) this.makeReady(next, true);
  }

  /** The message was leased: it is no longer waiting to be delivered again. */
  delivered(messageId: string): void {
    this.retried.delete(messageId);
  }

  /**
   * The message was handed back, due again at `deliverAt`, and its group is free. It is
   * still its group's oldest, so it goes before the rest of the group once due.
   */
  handBack(message: StoredMessage, deliverAt: number): void {
    this.retried.add(message.messageId);
    const group = groupId(message);
    // Due at once: first in its group's line, ahead of the messages parked there.
    if (group !== undefined && deliverAt <= this.clock.now()) {
      this.park(group, message.messageId);
      this.releaseGroup(message);
      return;
    }
    this.releaseGroup(message);
    this.schedule(message);
  }

  /** Stops the delay timers: the World is closing. */
  clear(): void {
    this.timers.clear();
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
    this.readied(message.topic);
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
}
