import { type Clock, InvalidInputError, type ScheduledCallback } from '@cairn/core/world';
import { type Duration, toMilliseconds } from './duration.js';

interface Timer {
  at: number;
  /** Breaks ties between timers due at the same instant: the one scheduled first fires first. */
  order: number;
  callback: () => void;
}

/**
 * A `Clock` whose time moves only when told to. Give it to the World and to every worker,
 * so the World's stamps, its delayed messages and the engine's due times all read it.
 *
 * Callbacks fire in the order of their due time (ties in the order they were scheduled),
 * each after the system has settled from the one before, so a run woken by one timer has
 * recorded what it does before the next one fires.
 */
export class VirtualClock implements Clock {
  private current: number;
  private timers: Timer[] = [];
  private scheduled = 0;
  /** Advances run one at a time, so two callers never fire the same timer. */
  private queue: Promise<void> = Promise.resolve();
  /**
   * What "the system has settled" means between two timers. The test environment waits for
   * its workers and World to go quiet; alone, the clock waits a few event-loop turns.
   */
  settle: () => Promise<void> = async () => {
    for (let turn = 0; turn < 3; turn++) await new Promise((resolve) => setImmediate(resolve));
  };

  /** @param startAt the first `now()`, in ms since the epoch. */
  constructor(startAt: number) {
    if (!Number.isSafeInteger(startAt) || startAt < 0) {
      throw new InvalidInputError({ field: 'startAt', value: startAt, reason: 'must be a whole number of ms ≥ 0' });
    }
    this.current = startAt;
  }

  now(): number {
    return this.current;
  }

  schedule(at: number, callback: () => void): ScheduledCallback {
    const timer: Timer = { at, order: this.scheduled++, callback };
    if (at <= this.current) {
      // Already due: it runs on a later turn, never inside schedule(), as with real timers.
      let cancelled = false;
      setImmediate(() => {
        if (!cancelled) callback();
      });
      return { cancel: () => (cancelled = true) };
    }
    const index = this.timers.findIndex((other) => other.at > at);
    if (index === -1) this.timers.push(timer);
    else this.timers.splice(index, 0, timer);
    return {
      cancel: () => {
        this.timers = this.timers.filter((other) => other !== timer);
      },
    };
  }

  /** When the earliest pending callback is due, or undefined when none is pending. */
  nextDueAt(): number | undefined {
    return this.timers[0]?.at;
  }

  /** How many callbacks are pending. */
  get pending(): number {
    return this.timers.length;
  }

  /**
   * Moves time forward by `duration` (`'2d'`, `'90m'`, or milliseconds), firing every
   * callback that falls due on the way, in order, letting the system settle after each.
   * Resolves once time has reached the end and the system has settled.
   */
  async advance(duration: Duration): Promise<void> {
    const ms = toMilliseconds(duration, 'duration');
    return this.exclusive(() => this.moveTo(this.current + ms));
  }

  /** Like `advance`, to an instant (a `Date` or ms since the epoch); an instant already past does nothing. */
  async advanceTo(instant: Date | number): Promise<void> {
    const at = instant instanceof Date ? instant.getTime() : instant;
    if (!Number.isFinite(at))
      throw new InvalidInputError({ field: 'instant', value: instant, reason: 'must be a time' });
    return this.exclusive(() => this.moveTo(Math.max(this.current, at)));
  }

  /**
   * Moves to the earliest pending callback's due time and fires every callback due then.
   * Resolves false (doing nothing) when none is pending.
   */
  skipToNext(): Promise<boolean> {
    return this.exclusive(async () => {
      const next = this.nextDueAt();
      if (next === undefined) return false;
      await this.moveTo(next);
      return true;
    });
  }

  private async moveTo(target: number): Promise<void> {
    for (;;) {
      const first = this.timers[0];
      if (first === undefined || first.at > target) break;
      this.timers.shift();
      this.current = Math.max(this.current, first.at);
      first.callback();
      await this.settle();
    }
    this.current = target;
    await this.settle();
  }

  private exclusive<Result>(work: () => Promise<Result>): Promise<Result> {
    const result = this.queue.then(work);
    this.queue = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}
