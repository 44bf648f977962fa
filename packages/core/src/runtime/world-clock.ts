import { type Clock, systemClock } from '../world/clock.js';

/**
 * How recently the World must have stamped a commit itself for a writer to stamp the next
 * one: only the World's own stamps can correct a reading that runs ahead.
 */
export const clockReadingFreshMs = 5000;
/**
 * Age at which a reading asks for one append to go unstamped and renew it, while it is still
 * fresh: a worker whose every append is stamped would otherwise see its reading go stale
 * every few seconds, and the next burst of runs would all be created without their first pass.
 */
export const clockReadingRenewedAfterMs = 2500;
/**
 * The longest a writer that finds the reading stale waits for the renewal on its way before
 * sending unstamped after all. A renewal is an append sent first, so it is normally answered
 * within one append's latency; this only bounds a renewal that went missing. Measured on the
 * real clock, whatever clock the worker keeps, since it is about real latency.
 */
const renewalWaitMs = 1000;
/** A renewal older than this is taken as lost (its writer failed without saying so), and another may start. */
const renewalLostAfterMs = 5000;

/** How the next append that could renew the reading should go. */
export type StampChoice = 'stamp' | 'renew' | 'unstamped';

interface Renewal {
  /** The append that renews, when the choice was made ahead of sending it (a run's id). */
  key: string | undefined;
  startedAt: number;
  done: Promise<void>;
  end: () => void;
}

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
    this.renewalEnded();
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

  private renewal: Renewal | undefined;

  /**
   * For an append whose World-made stamp would renew the reading (a run's creation, or a
   * decision batch after the run's last event): whether to stamp it (`stamp`), send it
   * unstamped and report its stamp with `observeStamp` or else call `renewalEnded`
   * (`renew`), or send it unstamped with nothing to report (`unstamped`).
   *
   * A fresh reading is stamped from, except that once it is older than
   * `clockReadingRenewedAfterMs` one append renews it. A stale reading is renewed by the
   * first append that asks, while those that ask after it wait for its answer and then stamp
   * from the renewed reading: a burst of runs created after a quiet spell costs one unstamped
   * creation rather than one each. `key` hands a choice made ahead of the append to the same
   * append when it asks again (a run first offered to a worker's first pass, then created alone).
   */
  async chooseStamp(key?: string): Promise<StampChoice> {
    if (key !== undefined && this.renewal?.key === key) return 'renew';
    const now = this.local.now();
    if (this.renewal !== undefined && performance.now() - this.renewal.startedAt > renewalLostAfterMs)
      this.renewalEnded();
    if (this.observedWithin(clockReadingFreshMs)) {
      if (now - this.observedAt! < clockReadingRenewedAfterMs || this.renewal !== undefined) return 'stamp';
      this.startRenewal(key);
      return 'renew';
    }
    if (this.renewal === undefined) {
      this.startRenewal(key);
      return 'renew';
    }
    const { done } = this.renewal;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([done, new Promise<void>((resolve) => (timer = setTimeout(resolve, renewalWaitMs)))]);
    clearTimeout(timer);
    return this.observedWithin(clockReadingFreshMs) ? 'stamp' : 'unstamped';
  }

  /** The renewing append ended without a stamp of the World's to observe: writers waiting for it go on. */
  renewalEnded(): void {
    const renewal = this.renewal;
    this.renewal = undefined;
    renewal?.end();
  }

  private startRenewal(key: string | undefined): void {
    let end!: () => void;
    const done = new Promise<void>((resolve) => {
      end = resolve;
    });
    this.renewal = { key, startedAt: performance.now(), done, end };
  }

  /** The World refused `stamp` as already past when it committed, by local `receivedAt`. */
  observeStampInPast(stamp: number, receivedAt: number): void {
    this.offsetMs = Math.max(this.offsetMs, stamp + 1 - receivedAt);
  }
}
