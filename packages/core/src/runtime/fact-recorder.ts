import type { ReplayDivergenceError } from '../errors/replay-divergence-error.js';
import type { WorkflowReplay } from '../workflow/replay.js';
import { serializeError } from '../workflow/serialization.js';
import type { CairnError } from '../world/errors/cairn-error.js';
import { EntityConflictError } from '../world/errors/entity-conflict-error.js';
import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import { RunTerminalError } from '../world/errors/run-terminal-error.js';
import { isTerminalRunStatus } from '../world/schemas/entities.js';
import type { WorldEvent } from '../world/schemas/events.js';
import type { EnqueueRequest, World } from '../world/world.js';
import { emitCommittedSpans } from './committed-spans.js';
import type { SpeculationMargin } from './speculation-margin.js';
import type { StepOutcome } from './step-executor.js';
import { wakeRequest } from './topics.js';
import type { WorldClock } from './world-clock.js';

export interface FactRecorderOptions {
  world: World;
  runLease: boolean;
  clock: WorldClock;
  /** Counts the appends on their way, so stamps chosen meanwhile allow for them. */
  margin: SpeculationMargin;
}

/**
 * Writes what is already true whatever the replay decides: a step's outcome, a child's
 * result, a failure the engine found. Outcomes go unfenced, since nothing derived from
 * the log depends on their position; the World refuses a second outcome of the same step,
 * so writers that race over one (a redelivered message, a pass that lost its lease) cannot
 * record it twice. Each goes with the messages it implies, in the same append.
 */
export class FactRecorder {
  constructor(private readonly options: FactRecorderOptions) {}

  /**
   * Records an outcome unfenced, with the messages it implies; a second recording of the
   * same step is simply refused (resolves undefined), as is one on a run that has ended.
   * An outcome the World cannot store (too large, say) is recorded as the step's failure
   * instead, so the run moves on rather than running the step forever.
   */
  async writeFact(
    runId: string,
    outcome: StepOutcome,
    enqueue: EnqueueRequest[] = [],
  ): Promise<WorldEvent | undefined> {
    // Unstamped, but counted: stamps chosen while it is on its way queue behind it.
    const pending = this.options.margin.send();
    await pending.ready();
    try {
      const params = enqueue.length === 0 ? undefined : { enqueue };
      const { event } = await this.options.world.events.create(runId, outcome, params);
      pending.committed();
      return event;
    } catch (error) {
      pending.threw(error);
      if (EntityConflictError.is(error) || RunTerminalError.is(error)) return undefined;
      if (!InvalidInputError.is(error) || outcome.eventType === 'step_failed') throw error;
      const unstorable: StepOutcome = {
        eventType: 'step_failed',
        correlationId: outcome.correlationId,
        eventData: {
          error: {
            name: 'UnstorableOutcomeError',
            code: 'UNSTORABLE_OUTCOME',
            message: `The World refused to record this step's ${outcome.eventType}: ${error.message}`,
          },
        },
      };
      // A failure wakes the run; a retry's timer would wait for an attempt that never comes.
      const wake = outcome.eventType === 'step_retrying' ? [wakeRequest(runId, this.options.runLease)] : enqueue;
      return this.writeFact(runId, unstorable, wake);
    }
  }

  /**
   * After `writeFact` was refused: wakes the run with `wake` (the message that would have
   * gone with the fact) unless the refusal was because the run has ended. A fact recorded
   * already took its wake with it, but the run may still be waiting on one from before the
   * outbox, and a wake costs little; an ended run has nothing to do, and a pass on a
   * cancelled one would walk its children again.
   */
  async wakeUnlessEnded(runId: string, wake: EnqueueRequest): Promise<void> {
    const { world } = this.options;
    if (isTerminalRunStatus((await world.runs.get(runId)).status)) return;
    await world.queue.send(wake.topic, wake.payload, wake.options);
  }

  /**
   * Records an inline outcome that no pass will take (its pass lost the run's lease), with
   * what must follow it: the run's wake, or the timer for the step's next attempt.
   */
  recordAlone(runId: string, outcome: StepOutcome): Promise<WorldEvent | undefined> {
    const follow =
      outcome.eventType === 'step_retrying'
        ? this.retryTimer(runId, outcome)
        : [wakeRequest(runId, this.options.runLease)];
    return this.writeFact(runId, outcome, follow);
  }

  /** The wake that brings a run back for an inline step's next attempt. */
  retryTimer(runId: string, outcome: StepOutcome): EnqueueRequest[] {
    if (outcome.eventType !== 'step_retrying' || outcome.eventData.retryAfter === undefined) return [];
    const dueAt = outcome.eventData.retryAfter;
    return [
      wakeRequest(runId, this.options.runLease, {
        dueAt,
        now: this.options.clock.now(),
        key: `retry:${runId}:${outcome.correlationId}:${dueAt}`,
      }),
    ];
  }

  /** Records a failure the engine, not the workflow, found; fenced on the run's real tail. */
  async failRun(replay: WorkflowReplay, cause: ReplayDivergenceError | CairnError): Promise<void> {
    const { lastEventId } = await this.options.world.runs.get(replay.runId);
    const { event } = await this.options.world.events.create(
      replay.runId,
      { eventType: 'run_failed', eventData: { error: { ...serializeError(cause), code: cause.code } } },
      { lastKnownEventId: lastEventId },
    );
    emitCommittedSpans(replay, [event]);
  }
}
