import type { WorkflowReplay } from '../workflow/replay.js';
import { FenceConflictError } from '../world/errors/fence-conflict-error.js';
import { HookTokenConflictError } from '../world/errors/hook-token-conflict-error.js';
import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import type { CreateEventRequest } from '../world/schemas/events.js';
import { limits } from '../world/schemas/primitives.js';
import type { CreateEventResult, EnqueueRequest, World } from '../world/world.js';
import { CompletionBatches, feedCommitted } from './completion-batches.js';
import { FactRecorder } from './fact-recorder.js';
import { endsRun, HeldClaims } from './held-claims.js';
import { outboxOf, placeSteps } from './placement.js';
import type { PendingAppend, SpeculationMargin } from './speculation-margin.js';
import type { StepOutcome } from './step-executor.js';
import type { StepSlots } from './step-slots.js';
import type { WorldClock } from './world-clock.js';

/** A stamp chosen for an append, and the append counted as on its way from that moment. */
export interface StampedAppend {
  createdAt: number;
  pending: PendingAppend;
}

export interface RecorderOptions {
  world: World;
  runLease: boolean;
  stepSlots: StepSlots;
  clock: WorldClock;
  margin: SpeculationMargin;
}

/**
 * Writes what a pass derives. Decisions go under a fence on the tail the replay consumed;
 * step outcomes go with the decisions they cause in one batch (one durable write per
 * step); the messages that work implies (a queued step, a timer) go in the same append
 * through the World's outbox, so a crash can never keep one without the other.
 */
export class Recorder {
  /** Claimed wakes whose passes run here; the append that ends a run acknowledges its own. */
  readonly claims: HeldClaims;
  /** Outcomes and failures, written as facts; a refused batch falls back to them. */
  readonly facts: FactRecorder;

  private readonly completions: CompletionBatches;

  constructor(private readonly options: RecorderOptions) {
    this.claims = new HeldClaims(options.world.capabilities.streams.closedWithRun === true);
    this.facts = new FactRecorder(options);
    this.completions = new CompletionBatches({
      ...options,
      facts: this.facts,
      claims: this.claims,
      place: (writes) => this.place(writes),
      outbox: (replay, writes) => this.outbox(replay, writes),
    });
  }

  /**
   * Appends derived writes under a fence on the tail the replay consumed, then feeds them
   * back. Resolves false when the fence was lost: the writes are discarded, and since the
   * replay has consumed only what is in the log, catching it up and deciding again is
   * exactly what a cold replay would do, without rebuilding it.
   */
  async commit(replay: WorkflowReplay, derived: CreateEventRequest[]): Promise<boolean> {
    const { world, clock, margin } = this.options;
    const writes = this.place(derived.slice(0, limits.maxBatchSize));
    const tail = replay.tail;
    // A batch that completes a wait is stamped no earlier than the wait's resumeAt, so a
    // sleep never ends before its time on the World's clock, whatever this worker's clock says.
    // Other decisions are stamped here too while the reading of the World's clock is fresh
    // (a World can write a stamped batch without reading its clock first); when it is stale,
    // or due for renewal, the World stamps the batch, which is how the reading is kept.
    // Decisions never depend on the stamp: workflow code sees the committed events' time,
    // on every replay alike.
    const completesWait = writes.some((write) => write.eventType === 'wait_completed');
    const choice = completesWait ? 'stamp' : await clock.chooseStamp();
    const proposes = choice === 'stamp';
    const pending = margin.send();
    const stamp = proposes ? Math.max(clock.now() + pending.ms, tail.createdAt) : undefined;
    const acknowledged = this.claims.acknowledgedBy(replay, writes);
    await pending.ready();
    const sentAt = clock.localNow();
    let results: CreateEventResult[];
    try {
      // A batch holds at most limits.maxBatchSize events; whatever is left stays unrecorded
      // in the replay and is decided again on the next turn, fenced on the new tail.
      results = await world.events.createBatch(replay.runId, writes, {
        ...(tail.eventId === undefined ? {} : { lastKnownEventId: tail.eventId }),
        ...(stamp === undefined ? {} : { createdAt: stamp }),
        enqueue: this.outbox(replay, writes),
        ...acknowledged,
      });
      this.claims.settled(replay.runId, acknowledged);
    } catch (error) {
      if (choice === 'renew') clock.renewalEnded();
      if (FenceConflictError.is(error)) {
        if (stamp !== undefined && error.currentTail.eventId === tail.eventId) {
          pending.refused();
          clock.observeStampInPast(stamp, clock.localNow());
          // The next decisions go unstamped, so the World's own stamp corrects the reading
          // whichever way it was off (a refusal alone can only push it forward).
          if (!completesWait) clock.distrust();
        } else pending.committed();
        return false;
      }
      pending.threw(error);
      if (HookTokenConflictError.is(error) || InvalidInputError.is(error)) {
        // The workflow asked for something the World will never accept (a token another
        // live hook holds, a value too large to store). Retrying would fail the same way
        // forever; fail the run so the caller sees why.
        await this.facts.failRun(replay, error);
        return false;
      }
      throw error;
    }
    const first = results[0]!.event;
    const receivedAt = clock.localNow();
    // A stamp the World clamped to the run's last event says nothing about its clock.
    if (stamp === undefined && first.createdAt > tail.createdAt)
      clock.observeStamp(first.createdAt, sentAt, receivedAt);
    else if (choice === 'renew') clock.renewalEnded();
    // Every append measures the World's latency, so the first speculative batch of a run on a
    // slow World is already stamped far enough ahead instead of being refused to learn it.
    pending.committed();
    await feedCommitted(replay, results);
    return true;
  }

  private turns: Promise<unknown> = Promise.resolve();

  /**
   * Runs `preparation` (choosing a stamp, then running workflow code to derive what goes
   * with it) after the preparations started before it have finished. Run side by side, the
   * preparations of a burst of first passes take turns at every await, so each finishes
   * only when nearly all have: the first stamp chosen would wait out the whole burst's
   * workflow code before its append is even sent, far longer than the appends ahead of it
   * say. One at a time, an append is sent right after its own preparation, behind the ones
   * counted ahead of it. The total work is the same.
   */
  inTurn<Result>(preparation: () => Promise<Result>): Promise<Result> {
    const result = this.turns.then(preparation);
    this.turns = result.catch(() => undefined);
    return result;
  }

  /**
   * The stamp a run's creation may carry when its first pass's decisions ride with it, or
   * undefined when the reading of the World's clock is too old to propose one (or this
   * creation is the one chosen to renew it, alone and unstamped). The workflow code of that
   * pass sees this time, so it must be the one that commits.
   */
  async creationStamp(runId: string): Promise<StampedAppend | undefined> {
    const { clock, margin } = this.options;
    // A creation chosen to renew the reading goes alone and unstamped: the choice stays
    // with the run's id, for the client's append of it.
    if ((await clock.chooseStamp(runId)) !== 'stamp') return undefined;
    // Counted from now: other creations started in the same burst choose their stamps
    // before this one is sent, and must see it ahead of them.
    const pending = margin.send();
    return { createdAt: clock.now() + pending.ms, pending };
  }

  /**
   * A run's creation and its first pass's decisions in one append, stamped as `stamped` says:
   * `replay` was fed `creation` as it will commit and derived `decisions` from it. `wake`
   * rides in the outbox with the decisions' own messages, unless the append ends the run,
   * which then needs no wake at all. Resolves with the results, fed back to the replay, or
   * with undefined when the World refused the batch for a reason the creation alone meets
   * its own way (the stamp fell into its past, a hook token is taken, a value is too
   * large): nothing was written. An id already taken (`EntityConflictError`) and an outage
   * are thrown.
   */
  async create(
    replay: WorkflowReplay,
    creation: CreateEventRequest,
    decisions: CreateEventRequest[],
    stamped: StampedAppend,
    wake: EnqueueRequest,
  ): Promise<CreateEventResult[] | undefined> {
    const { world, clock } = this.options;
    const { createdAt, pending } = stamped;
    const placed = this.place(decisions.slice(0, limits.maxBatchSize - 1));
    await pending.ready();
    let results: CreateEventResult[];
    try {
      results = await world.events.createBatch(replay.runId, [creation, ...placed], {
        createdAt,
        enqueue: [...(endsRun(placed) ? [] : [wake]), ...this.outbox(replay, placed)],
      });
    } catch (error) {
      if (FenceConflictError.is(error)) {
        pending.refused();
        clock.observeStampInPast(createdAt, clock.localNow());
        clock.distrust();
        return undefined;
      }
      pending.threw(error);
      if (HookTokenConflictError.is(error) || InvalidInputError.is(error)) return undefined;
      throw error;
    }
    pending.committed();
    replay.adoptCommitted(results[0]!.event);
    await feedCommitted(replay, results.slice(1));
    return results;
  }

  /**
   * One durable write per step: the outcomes and the decisions they cause in one batch
   * (see CompletionBatches.record). Resolves false when the replay is behind.
   */
  record(replay: WorkflowReplay, outcomes: StepOutcome[]): Promise<boolean> {
    return this.completions.record(replay, outcomes);
  }

  /** Where each new step's attempts will run (see placeSteps). */
  private place(writes: CreateEventRequest[]): CreateEventRequest[] {
    return placeSteps(writes, this.options.runLease ? this.options.stepSlots.available() : 0);
  }

  /** The messages a batch implies: each queued step's first attempt, and each future wait's timer. */
  private outbox(replay: WorkflowReplay, writes: readonly CreateEventRequest[]): EnqueueRequest[] {
    return outboxOf(replay, writes, this.options.clock.now(), this.options.runLease);
  }
}
