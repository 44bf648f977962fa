/** A callback scheduled on a `Clock`; `cancel` stops it if it has not run yet. */
export interface ScheduledCallback {
  cancel(): void;
}

/**
 * One source of time for a World and the workers that use it. Production code uses
 * `systemClock` (the wall clock and Node timers); a test passes a virtual clock (see
 * `@cairn/testing`) to every part, so sleeps, retry backoffs and delayed messages fall due
 * when the test moves time, not when the wall clock does.
 *
 * What runs on it: the timestamps a World stamps (`createdAt`, a message's `deliverAt`), the
 * due times it judges (delayed messages), and the engine's waits for a sleep or retry that is
 * about to fall due. What does not: leases and renewals, which judge whether a process is
 * still alive, and backoffs between processes that collide; those stay on real time.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch on this clock. Never decreases. */
  now(): number;
  /**
   * Runs `callback` once, as soon as `now()` has reached `at` (never before; at once, on a
   * later turn, when `at` is already past). With `unref`, a pending callback does not keep
   * the process alive (meaningful for the wall clock only).
   */
  schedule(at: number, callback: () => void, options?: { unref?: boolean }): ScheduledCallback;
}

/** Node's setTimeout caps a delay at 2^31-1 ms; longer waits re-arm when it fires. */
const maxTimerMs = 2 ** 31 - 1;

/** A clock that reads `now` and waits with Node timers, re-checking `now` when one fires (timers may fire early). */
export function timerClock(now: () => number): Clock {
  return {
    now,
    schedule(at, callback, options = {}) {
      let timer: NodeJS.Timeout | undefined;
      // Runs on a timer turn, never inside schedule(); a timer that fired early re-arms.
      const arm = () => {
        timer = setTimeout(
          () => {
            if (now() >= at) callback();
            else arm();
          },
          Math.min(Math.max(0, at - now()), maxTimerMs),
        );
        if (options.unref) timer.unref();
      };
      arm();
      return { cancel: () => clearTimeout(timer) };
    },
  };
}

/** The wall clock: `Date.now()` and Node timers. The default everywhere. */
export const systemClock: Clock = timerClock(() => Date.now());

/** Accepts a `Clock`, or a plain `() => number` read with Node timers (the older form). */
export function toClock(clock: Clock | (() => number) | undefined): Clock {
  if (clock === undefined) return systemClock;
  if (typeof clock === 'function') return timerClock(clock);
  return clock;
}
