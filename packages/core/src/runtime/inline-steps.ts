import type { StepCommand } from '../workflow/commands.js';
import type { StepDefinition } from '../workflow/definitions.js';
import type { World } from '../world/world.js';
import { LazyAbort } from './lazy-abort.js';
import { type BeforeStepAttempt, runStepAttempt, type StepOutcome } from './step-executor.js';
import type { StepSlots } from './step-slots.js';
import type { TraceCarrier } from './tracing.js';
import type { WorldClock } from './world-clock.js';

interface Attempt {
  runId: string;
  stepId: string;
  controller: LazyAbort;
  settled: Promise<void>;
  outcome?: StepOutcome;
  /** Its pass lost the lease, and it is recording its own outcome: no pass may take it. */
  recordingAlone?: boolean;
}

/**
 * The step attempts running inline on this worker, across every pass of every run. A step
 * placed inline is started only when no attempt of it is registered here, so a later pass
 * (after a wake, a lost fence or a lease expiry) never starts a second attempt beside one
 * still running, and whichever pass of the run comes next records a settled outcome.
 */
export class InlineSteps {
  /** By run, then by step id, so a pass looks only at its own run's attempts. */
  private readonly attempts = new Map<string, Map<string, Attempt>>();

  constructor(
    private readonly world: World,
    private readonly slots: StepSlots,
    private readonly clock: WorldClock,
    private readonly beforeAttempt?: BeforeStepAttempt,
  ) {}

  has(runId: string, stepId: string): boolean {
    return this.attempts.get(runId)?.has(stepId) ?? false;
  }

  /** Starts an attempt; it waits for a free slot first if the worker is busy. */
  run(runId: string, definition: StepDefinition, step: StepCommand, trace?: TraceCarrier): void {
    const controller = new LazyAbort();
    const attempt: Attempt = { runId, stepId: step.id, controller, settled: Promise.resolve() };
    attempt.settled = this.slots
      .acquire()
      .then(() =>
        runStepAttempt(
          definition,
          { stepId: step.id, input: step.input, retries: step.retries },
          { world: this.world, runId, signal: controller, trace, beforeAttempt: this.beforeAttempt },
          () => this.clock.now(),
        ).finally(() => this.slots.release()),
      )
      .then((outcome) => {
        attempt.outcome = outcome;
      });
    this.register(attempt);
  }

  /** Resolves when any attempt of the run settles (at once if one already has); never rejects. */
  anySettled(runId: string): Promise<void> | undefined {
    const pending = this.of(runId).filter((attempt) => !attempt.recordingAlone);
    return pending.length === 0 ? undefined : Promise.race(pending.map((attempt) => attempt.settled));
  }

  /** Removes and returns the outcomes of the run's settled attempts, for recording. */
  takeSettled(runId: string): StepOutcome[] {
    const outcomes: StepOutcome[] = [];
    for (const attempt of this.of(runId)) {
      if (!attempt.outcome || attempt.recordingAlone) continue;
      this.unregister(attempt);
      outcomes.push(attempt.outcome);
    }
    return outcomes;
  }

  /** Puts back outcomes whose recording failed for a reason that may pass, so the next pass records them. */
  restore(runId: string, outcomes: readonly StepOutcome[]): void {
    for (const outcome of outcomes) {
      if (this.has(runId, outcome.correlationId)) continue;
      this.register({
        runId,
        stepId: outcome.correlationId,
        controller: new LazyAbort(),
        settled: Promise.resolve(),
        outcome,
      });
    }
  }

  /**
   * No pass holds the run any more (its lease was lost): each of its attempts records its
   * own outcome through `record` once it settles, unless a later pass of the run on this
   * worker has taken it first. The attempts stay registered meanwhile, so such a pass
   * never starts a second attempt beside them. Resolves once every attempt has settled
   * and its recording was tried.
   */
  orphan(runId: string, record: (outcome: StepOutcome) => Promise<unknown>, onFailure: () => void): Promise<void> {
    const recorded = this.of(runId).map((attempt) =>
      attempt.settled.then(async () => {
        if (this.attempts.get(runId)?.get(attempt.stepId) !== attempt || !attempt.outcome) return;
        // It stays registered until its outcome is in the log, so a pass that reads the log
        // in the meantime neither starts the step again nor records it a second time.
        attempt.recordingAlone = true;
        try {
          await record(attempt.outcome);
        } catch {
          // The step stays open; the run's next pass starts a new attempt.
          onFailure();
        } finally {
          this.unregister(attempt);
        }
      }),
    );
    return Promise.all(recorded).then(() => {});
  }

  /** The run ended (cancelled, say): its bodies are told to stop, and nothing of theirs will be recorded. */
  abandonRun(runId: string, reason: string): void {
    for (const attempt of this.of(runId)) {
      attempt.controller.abort(new Error(reason));
      this.unregister(attempt);
    }
  }

  /** The worker is stopping: every running body's signal aborts; their outcomes are still recorded. */
  stop(): void {
    for (const byStep of this.attempts.values()) {
      for (const attempt of byStep.values()) attempt.controller.abort(new Error('the worker is stopping'));
    }
  }

  /** Settles once every registered attempt has settled. */
  async drain(): Promise<void> {
    const all = [...this.attempts.values()].flatMap((byStep) => [...byStep.values()]);
    await Promise.all(all.map((attempt) => attempt.settled));
  }

  private of(runId: string): Attempt[] {
    return [...(this.attempts.get(runId)?.values() ?? [])];
  }

  private register(attempt: Attempt): void {
    let byStep = this.attempts.get(attempt.runId);
    if (!byStep) {
      byStep = new Map();
      this.attempts.set(attempt.runId, byStep);
    }
    byStep.set(attempt.stepId, attempt);
  }

  private unregister(attempt: Attempt): void {
    const byStep = this.attempts.get(attempt.runId);
    byStep?.delete(attempt.stepId);
    if (byStep?.size === 0) this.attempts.delete(attempt.runId);
  }
}
