import type { WorkflowReplay } from '../workflow/replay.js';
import { FenceConflictError } from '../world/errors/fence-conflict-error.js';
import { formatEventId } from '../world/run-draft.js';
import type { CreateEventRequest, WorldEvent } from '../world/schemas/events.js';
import { limits } from '../world/schemas/primitives.js';
import type { CreateEventResult, EnqueueRequest, World } from '../world/world.js';
import { emitCommittedSpans } from './committed-spans.js';
import type { FactRecorder } from './fact-recorder.js';
import type { HeldClaims } from './held-claims.js';
import type { PendingAppend, SpeculationMargin } from './speculation-margin.js';
import type { StepOutcome } from './step-executor.js';
import type { WorldClock } from './world-clock.js';
import { isTransient, SpeculationRefused } from './write-refusals.js';

export interface CompletionBatchesOptions {
  world: World;
  clock: WorldClock;
  margin: SpeculationMargin;
  facts: FactRecorder;
  claims: HeldClaims;
  /** Where each new step of a batch runs (see placement.ts). */
  place(writes: CreateEventRequest[]): CreateEventRequest[];
  /** The messages a batch implies (see placement.ts). */
  outbox(replay: WorkflowReplay, writes: readonly CreateEventRequest[]): EnqueueRequest[];
}

/** A batch derived ahead of its commit: the completions as fed, the decisions they caused, and its stamp. */
interface Speculation {
  batch: CreateEventRequest[];
  createdAt: number;
  pending: PendingAppend;
}

const isRetry = (outcome: StepOutcome) => outcome.eventType === 'step_retrying';

/** Feeds committed `results` back to `replay`, in order, and reports them to tracing. */
export async function feedCommitted(replay: WorkflowReplay, results: readonly CreateEventResult[]): Promise<void> {
  for (const { event } of results) await replay.feed(event);
  emitCommittedSpans(
    replay,
    results.map(({ event }) => event),
  );
}

/**
 * One durable write per step. Each part of it is a function of its own: the path every step
 * takes is short, and V8 optimises it without compiling the rare ones (retries, refusals)
 * along with it. As one async function it was compiled four times in a worker's first
 * thousands of runs, each time it took a branch it had not taken before.
 */
export class CompletionBatches {
  constructor(private readonly options: CompletionBatchesOptions) {}

  /**
   * Completions are fed to the replay first (stamped with a createdAt the World will honour
   * exactly), the decisions they cause are derived, and all of it goes in one batch fenced
   * on the tail before the first completion. If the World refuses that batch for any lasting
   * reason, each completion is still a fact and is written alone, the replay (which consumed
   * the refused completions) is dropped, and the decisions are derived again from the log.
   * Resolves false when the replay is behind.
   */
  async record(replay: WorkflowReplay, outcomes: StepOutcome[]): Promise<boolean> {
    const hasRetries = outcomes.some(isRetry);
    const inSync = !hasRetries || (await this.recordRetries(replay, outcomes.filter(isRetry)));
    const completions = hasRetries ? outcomes.filter((outcome) => !isRetry(outcome)) : outcomes;
    if (completions.length === 0) return inSync;
    const tailEventId = replay.tail.eventId;
    if (!inSync || tailEventId === undefined) {
      await this.writeFacts(replay.runId, completions);
      return false;
    }
    const speculation = await this.speculate(replay, completions);
    const results = await this.send(replay, tailEventId, completions, speculation);
    replay.adoptCommitted(results[completions.length - 1]!.event);
    await feedCommitted(replay, results.slice(completions.length));
    return true;
  }

  /**
   * Retries wake no workflow code, so there is nothing to speculate on: each is written as a
   * fact, with the timer that brings the run back for the next attempt. Resolves false once
   * one lands anywhere but right after the replay's tail.
   */
  private async recordRetries(replay: WorkflowReplay, retries: StepOutcome[]): Promise<boolean> {
    const { facts } = this.options;
    let inSync = true;
    for (const outcome of retries) {
      const expectedSeq = replay.tail.seq + 1;
      const written = await facts.writeFact(replay.runId, outcome, facts.retryTimer(replay.runId, outcome));
      if (inSync && written?.seq === expectedSeq) await replay.feed(written);
      else inSync = false;
    }
    return inSync;
  }

  private async writeFacts(runId: string, completions: StepOutcome[]): Promise<void> {
    for (const completion of completions) await this.options.facts.writeFact(runId, completion);
  }

  /** Feeds the completions as they will commit and derives what they cause, stamped ahead of the clock. */
  private async speculate(replay: WorkflowReplay, completions: StepOutcome[]): Promise<Speculation> {
    const { clock, margin, place } = this.options;
    // Not prepared in turn with first passes (see Recorder.inTurn): completions arrive spread
    // out, and waiting for the preparations queued ahead slowed bursts of 50 runs by about a
    // tenth, while the margin's least cost per append already kept their stamps from being refused.
    const pending = margin.send();
    const createdAt = Math.max(clock.now() + pending.ms, replay.tail.createdAt);
    try {
      let seq = replay.tail.seq;
      for (const completion of completions) {
        seq += 1;
        // Object.assign, not a spread: see RunDraft.apply (a new hidden class per spread).
        await replay.feed(
          Object.assign({}, completion, {
            runId: replay.runId,
            seq,
            eventId: formatEventId(seq),
            createdAt,
          }) as WorldEvent,
        );
      }
      const decisions = replay.divergedWith ? [] : replay.decide(createdAt);
      const batch = place([...completions, ...decisions].slice(0, Math.max(limits.maxBatchSize, completions.length)));
      return { batch, createdAt, pending };
    } catch (error) {
      pending.abandoned();
      throw error;
    }
  }

  /** Appends the batch fenced on `tailEventId`; a refusal is handled by `refused`, which throws. */
  private async send(
    replay: WorkflowReplay,
    tailEventId: string,
    completions: StepOutcome[],
    { batch, createdAt, pending }: Speculation,
  ): Promise<CreateEventResult[]> {
    const { world, claims, outbox } = this.options;
    const acknowledged = claims.acknowledgedBy(replay, batch);
    await pending.ready();
    let results: CreateEventResult[];
    try {
      results = await world.events.createBatch(
        replay.runId,
        batch,
        Object.assign({ lastKnownEventId: tailEventId, createdAt, enqueue: outbox(replay, batch) }, acknowledged),
      );
    } catch (error) {
      return this.refused(replay.runId, tailEventId, completions, createdAt, pending, error);
    }
    claims.settled(replay.runId, acknowledged);
    pending.committed();
    return results;
  }

  /**
   * After the World refused a batch: an outage is thrown as it is; otherwise the
   * completions are written as facts and `SpeculationRefused` is thrown, so the pass derives
   * its decisions again from the log.
   */
  private async refused(
    runId: string,
    tailEventId: string,
    completions: StepOutcome[],
    createdAt: number,
    pending: PendingAppend,
    error: unknown,
  ): Promise<never> {
    const { clock } = this.options;
    if (isTransient(error)) {
      pending.abandoned();
      throw error;
    }
    if (FenceConflictError.is(error) && error.currentTail.eventId === tailEventId) {
      // The tail did not move, so what the World refused is the stamp: it fell into the past.
      pending.refused();
      clock.observeStampInPast(createdAt, clock.localNow());
    } else pending.committed();
    await this.writeFacts(runId, completions);
    throw new SpeculationRefused(`the World refused a completion batch: ${(error as Error).message}`);
  }
}
