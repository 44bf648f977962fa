import { stepRegistry } from '../workflow/definitions.js';
import { isTerminalRunStatus } from '../world/schemas/entities.js';
import type { World } from '../world/world.js';
import { keepLease, type Lease } from './lease.js';
import type { Recorder } from './recorder.js';
import { sharedStopController } from './shared-stop.js';
import { type BeforeStepAttempt, runStepAttempt } from './step-executor.js';
import type { StepSlots } from './step-slots.js';
import { type StepMessage, stepMessage, wakeRequest } from './topics.js';
import type { WorldClock } from './world-clock.js';

export interface QueuedStepsOptions {
  world: World;
  recorder: Recorder;
  slots: StepSlots;
  clock: WorldClock;
  runLease: boolean;
  /** Runs before each attempt's body; see `BeforeStepAttempt`. */
  beforeStepAttempt?: BeforeStepAttempt;
}

/**
 * Runs attempts of steps placed on the step queue. Each outcome is written together with
 * what must follow it, through the World's outbox: a completion or failure with the run's
 * wake, a retry with the delayed message for the next attempt. A crash between the two can
 * therefore never strand the run.
 */
export class QueuedSteps {
  private stopping = sharedStopController();

  constructor(private readonly options: QueuedStepsOptions) {}

  /** After a stop: attempts started from now on get a signal that is not aborted. */
  start(): void {
    if (this.stopping.signal.aborted) this.stopping = sharedStopController();
  }

  /** Aborts the signals of running attempts; their outcomes are still recorded. */
  stop(): void {
    this.stopping.abort(new Error('the worker is stopping'));
  }

  /** Runs the attempt the message names, renewing the delivery's lease while the body runs. */
  async execute({ runId, stepId, trace }: StepMessage, lease?: Lease): Promise<void> {
    const kept = keepLease(lease);
    try {
      await this.attempt(runId, stepId, trace);
    } finally {
      kept.stop();
    }
  }

  private async attempt(runId: string, stepId: string, trace: StepMessage['trace']): Promise<void> {
    const { world, recorder, slots, clock, runLease } = this.options;
    const [run, step] = await Promise.all([world.runs.get(runId), world.steps.get(runId, stepId)]);
    if (step.status === 'completed' || step.status === 'failed') return;
    // A run that has ended (a race another branch won, a cancel) records nothing more, so an
    // attempt now would run the body for nothing; its message is simply acknowledged.
    if (isTerminalRunStatus(run.status)) return;
    const definition = stepRegistry.get(step.stepName);
    if (!definition) throw new Error(`Step "${step.stepName}" is not defined in this worker`);
    await slots.acquire();
    let outcome: Awaited<ReturnType<typeof runStepAttempt>>;
    try {
      outcome = await runStepAttempt(
        definition,
        { stepId, input: step.input, retries: step.retries },
        { world, runId, signal: this.stopping.signal, trace, beforeAttempt: this.options.beforeStepAttempt },
        () => clock.now(),
      );
    } finally {
      slots.release();
    }
    const wake = wakeRequest(runId, runLease);
    const next =
      outcome.eventType === 'step_retrying'
        ? stepMessage(
            runId,
            stepId,
            step.retries + 1,
            Math.max(0, (outcome.eventData.retryAfter ?? 0) - clock.now()),
            trace,
          )
        : wake;
    const written = await recorder.facts.writeFact(runId, outcome, [next]);
    // Recorded already, by an earlier delivery of this message, or the run has ended.
    if (written === undefined) await recorder.facts.wakeUnlessEnded(runId, wake);
  }
}
