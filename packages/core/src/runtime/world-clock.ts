import { type Clock, systemClock } from '../world/clock.js';

/**
 * The engine's reading of the World's clock. Every time the engine reasons about (whether
 * a sleep or a retry is due, the `createdAt` it stamps on a speculative batch, how long a
 * timer message must wait) is World time, because the World judges due-ness of delayed
 * messages and the order of `createdAt` on its own clock. A worker whose clock is skewed
 * against the World's would otherwise complete sleeps early, arm timers that fire before
 * the wait is due, or stamp every speculative batch in the World's past.
 *
 * The offset is learned from commits whose `createdAt` the World stamped itself: the stamp
 * was taken between sending the append and receiving its result, which bounds the offset
 * to an interval as wide as the round trip. A stamp the World refused as being in its past
 * raises the lower bound. The estimate moves only as far as each interval forces it, so
 * it follows a drifting clock without jumping on one noisy sample.
 */
export class WorldClock {
  private offsetMs = 0;

  /** @param local the worker's own clock (the wall clock unless a test injects skew or virtual time). */
  constructor(private readonly local: Clock = systemClock) {}

  /** The estimated current time on the World's clock. */
  now(): number {
    return Math.round(this.local.now() + this.offsetMs);
  }

  /** The worker's own clock, for measuring latencies (never compared with World times). */
  localNow(): number {
    return this.local.now();
  }

  /** Runs `callback` once `ms` have passed on the worker's clock (virtual time under a test clock). */
  after(ms: number, callback: () => void): { cancel(): void } {
    return this.local.schedule(this.local.now() + ms, callback, { unref: true });
  }

  /**
   * A commit sent at local `sentAt` and answered at local `receivedAt` got `createdAt` from
   * the World. Only meaningful when the World stamped it from its clock, not from an
   * earlier event's later `createdAt` (a run's `createdAt` never decreases): callers pass
   * only stamps strictly later than the run's previous one.
   */
  observeStamp(createdAt: number, sentAt: number, receivedAt: number): void {
    const lowest = createdAt - receivedAt;
    const highest = createdAt - sentAt;
    if (this.offsetMs < lowest) this.offsetMs = lowest;
    else if (this.offsetMs > highest) this.offsetMs = highest;
    this.observedAt = receivedAt;
  }

  /** Local time of the last stamp the World chose itself; undefined when the reading is stale. */
  private observedAt: number | undefined;

  /**
   * Whether the World's own stamp was observed within the last `ms` on the worker's clock.
   * Only those stamps can lower the offset; while none is recent, writers should let the
   * World stamp so the reading is kept.
   */
  observedWithin(ms: number): boolean {
    return this.observedAt !== undefined && this.local.now() - this.observedAt <= ms;
  }

  /** A stamp proposed from this reading was refused: the next writer lets the World stamp again. */
  distrust(): void {
    this.observedAt = undefined;
  }

  /** The World refused `stamp` as already past when it committed, by local `receivedAt`. */
  observeStampInPast(stamp: number, receivedAt: number): void {
    this.offsetMs = Math.max(this.offsetMs, stamp + 1 - receivedAt);
  }
}
