import { type BeforeStepAttempt, InvalidInputError } from '@cairn/core';
import type { CreateEventRequest } from '@cairn/core/world';
import { type Duration, toMilliseconds } from './duration.js';
import { InjectedFaultError } from './injected-fault-error.js';
import { seededRandom } from './seeded-random.js';

function wholeCount(value: unknown, field: string): number {
  if (!Number.isInteger(value) || (value as number) < 1) {
    throw new InvalidInputError({ field, value, reason: 'must be a whole number ≥ 1' });
  }
  return value as number;
}

function stepName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) {
    throw new InvalidInputError({ field, value, reason: 'must be the name a step was defined with' });
  }
  return value;
}

/**
 * Faults armed on a test environment. Each one is counted and consumed in the order the
 * engine reaches it, and every random choice comes from the environment's seed, so a run
 * that fails under a fault fails the same way again.
 */
export class Faults {
  private readonly random: () => number;
  private readonly stepFailures = new Map<string, number>();
  private fenceConflicts = 0;
  private appendDelays: { remaining: number; minMs: number; maxMs: number } | undefined;
  private readonly crashes = new Set<string>();
  /** How many faults of each kind have been injected so far: a test can check its faults happened. */
  readonly injected = { stepFailures: 0, delayedAppends: 0, fenceConflicts: 0, crashes: 0 };

  constructor(readonly seed: number) {
    this.random = seededRandom(seed);
  }

  /** A number in [0, 1) from the environment's seeded sequence. */
  draw(): number {
    return this.random();
  }

  /**
   * Fails the next `attempts` attempts of the step named `name` (across runs) with an
   * `InjectedFaultError` before its body runs. The step's retry policy applies as usual:
   * its backoff elapses on the virtual clock.
   */
  failStep(name: string, options: { attempts: number }): void {
    const key = stepName(name, 'name');
    const attempts = wholeCount(options?.attempts, 'options.attempts');
    this.stepFailures.set(key, (this.stepFailures.get(key) ?? 0) + attempts);
  }

  /**
   * Delays the next `appends` event appends of the workers by a real duration drawn from
   * `[minMs, maxMs]` with the seed: a slow World, with passes, completions and timers
   * overlapping it.
   */
  delayAppends(options: { appends: number; min?: Duration; max: Duration }): void {
    const remaining = wholeCount(options?.appends, 'options.appends');
    const maxMs = toMilliseconds(options.max, 'options.max');
    const minMs = options.min === undefined ? 0 : toMilliseconds(options.min, 'options.min');
    if (minMs > maxMs)
      throw new InvalidInputError({ field: 'options.min', value: options.min, reason: 'must not exceed options.max' });
    this.appendDelays = { remaining, minMs, maxMs };
  }

  /**
   * Refuses the workers' next `writes` fenced appends with `FenceConflictError` before they
   * reach the World, as if another writer had won each race.
   */
  forceFenceConflicts(writes: number): void {
    this.fenceConflicts += wholeCount(writes, 'writes');
  }

  /**
   * The next time a worker is about to record a completion of the step named `name`, the
   * worker dies instead: the write never reaches the World, and the environment starts a
   * fresh worker, which runs the step again.
   */
  crashBeforeRecording(name: string): void {
    this.crashes.add(stepName(name, 'name'));
  }

  /** The hook the workers run before each step attempt. */
  readonly beforeStepAttempt: BeforeStepAttempt = ({ stepName: name, attempt }) => {
    const remaining = this.stepFailures.get(name) ?? 0;
    if (remaining === 0) return;
    this.stepFailures.set(name, remaining - 1);
    this.injected.stepFailures += 1;
    throw new InjectedFaultError({
      fault: 'failStep',
      message: `Injected failure of step "${name}", attempt ${attempt}`,
    });
  };

  /** Takes one fence conflict, if one is armed and the write is fenced. */
  takeFenceConflict(fenced: boolean): boolean {
    if (!fenced || this.fenceConflicts === 0) return false;
    this.fenceConflicts -= 1;
    this.injected.fenceConflicts += 1;
    return true;
  }

  /** The delay, in ms, for the next append, or 0. */
  takeAppendDelay(): number {
    const delays = this.appendDelays;
    if (!delays || delays.remaining === 0) return 0;
    delays.remaining -= 1;
    this.injected.delayedAppends += 1;
    return Math.round(delays.minMs + this.draw() * (delays.maxMs - delays.minMs));
  }

  /** Takes the armed crash for one of these requests' completed steps, if any; `nameOf` resolves a step's name. */
  async takeCrash(
    requests: readonly CreateEventRequest[],
    nameOf: (stepId: string) => Promise<string | undefined>,
  ): Promise<string | undefined> {
    if (this.crashes.size === 0) return undefined;
    for (const request of requests) {
      if (request.eventType !== 'step_completed') continue;
      const name = await nameOf(request.correlationId);
      if (name !== undefined && this.crashes.delete(name)) {
        this.injected.crashes += 1;
        return name;
      }
    }
    return undefined;
  }
}
