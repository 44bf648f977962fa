import { stepRegistry } from '../workflow/definitions.js';
import { childStepPrefix, type WorkflowReplay } from '../workflow/replay.js';
import { FenceConflictError } from '../world/errors/fence-conflict-error.js';
import { HookTokenConflictError } from '../world/errors/hook-token-conflict-error.js';
import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import { formatEventId } from '../world/run-draft.js';
import type { CreateEventRequest, WorldEvent } from '../world/schemas/events.js';
import { limits } from '../world/schemas/primitives.js';
import type { CreateEventResult, EnqueueRequest, World } from '../world/world.js';
import { emitCommittedSpans } from './committed-spans.js';
import { FactRecorder } from './fact-recorder.js';
import { endsRun, HeldClaims } from './held-claims.js';
import type { PendingAppend, SpeculationMargin } from './speculation-margin.js';
import type { StepOutcome } from './step-executor.js';
import type { StepSlots } from './step-slots.js';
import { stepMessage, wakeRequest } from './topics.js';
import { asTraceCarrier } from './tracing.js';
import type { WorldClock } from './world-clock.js';
import { isTransient, SpeculationRefused } from './write-refusals.js';

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
  readonly claims = new HeldClaims();
  /** Outcomes and failures, written as facts; a refused batch falls back to them. */
  readonly facts: FactRecorder;

  constructor(private readonly options: RecorderOptions) {
    this.facts = new FactRecorder(options);
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
    const acknowledged = this.claims.acknowledgedBy(replay.runId, writes);
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
    for (const { event } of results) await replay.feed(event);
    emitCommittedSpans(
      replay,
      results.map(({ event }) => event),
    );
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
    for (const { event } of results.slice(1)) await replay.feed(event);
    emitCommittedSpans(
      replay,
      results.slice(1).map(({ event }) => event),
    );
    return results;
  }

  /**
   * One durable write per step: completions are fed to the replay first (stamped with a
   * createdAt the World will honour exactly), the decisions they cause are derived, and all
   * of it goes in one batch fenced on the tail before the first completion. If the World
   * refuses that batch for any lasting reason, each completion is still a fact and is
   * written alone, the replay (which consumed the refused completions) is dropped, and the
   * decisions are derived again from the log. Resolves false when the replay is behind.
   */
  async record(replay: WorkflowReplay, outcomes: StepOutcome[]): Promise<boolean> {
    let inSync = true;
    // Retries wake no workflow code, so there is nothing to speculate on: write them as facts,
    // each with the timer that brings the run back for the next attempt.
    for (const outcome of outcomes.filter((candidate) => candidate.eventType === 'step_retrying')) {
      const expectedSeq = replay.tail.seq + 1;
      const written = await this.facts.writeFact(replay.runId, outcome, this.facts.retryTimer(replay.runId, outcome));
      if (inSync && written?.seq === expectedSeq) await replay.feed(written);
      else inSync = false;
    }
    const completions = outcomes.filter((candidate) => candidate.eventType !== 'step_retrying');
    if (completions.length === 0) return inSync;
    const tail = replay.tail;
    if (!inSync || tail.eventId === undefined) {
      for (const completion of completions) await this.facts.writeFact(replay.runId, completion);
      return false;
    }
    const { world, clock, margin } = this.options;
    // Not prepared in turn with first passes (see inTurn): completions arrive spread out, and
    // waiting for the preparations queued ahead slowed bursts of 50 runs by about a tenth,
    // while the margin's least cost per append already kept their stamps from being refused.
    const pending = margin.send();
    const createdAt = Math.max(clock.now() + pending.ms, tail.createdAt);
    let batch: CreateEventRequest[];
    try {
      let seq = tail.seq;
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
      batch = this.place([...completions, ...decisions].slice(0, Math.max(limits.maxBatchSize, completions.length)));
    } catch (error) {
      pending.abandoned();
      throw error;
    }
    const acknowledged = this.claims.acknowledgedBy(replay.runId, batch);
    await pending.ready();
    let results: CreateEventResult[];
    try {
      results = await world.events.createBatch(
        replay.runId,
        batch,
        Object.assign({ lastKnownEventId: tail.eventId, createdAt, enqueue: this.outbox(replay, batch) }, acknowledged),
      );
      this.claims.settled(replay.runId, acknowledged);
    } catch (error) {
      if (isTransient(error)) {
        pending.abandoned();
        throw error;
      }
      if (FenceConflictError.is(error) && error.currentTail.eventId === tail.eventId) {
        // The tail did not move, so what the World refused is the stamp: it fell into the past.
        pending.refused();
        clock.observeStampInPast(createdAt, clock.localNow());
      } else pending.committed();
      for (const completion of completions) await this.facts.writeFact(replay.runId, completion);
      throw new SpeculationRefused(`the World refused a completion batch: ${(error as Error).message}`);
    }
    pending.committed();
    replay.adoptCommitted(results[completions.length - 1]!.event);
    for (const { event } of results.slice(completions.length)) await replay.feed(event);
    emitCommittedSpans(
      replay,
      results.slice(completions.length).map(({ event }) => event),
    );
    return true;
  }

  /**
   * Decides where each new step's attempts will run, and records it in its step_created: a
   * step this worker has a free slot and a definition for runs inline; any other goes to
   * the step queue. Without the run lease every step is queued, since several passes of the
   * run may be live at once and none of them can know what the others started.
   */
  private place(writes: CreateEventRequest[]): CreateEventRequest[] {
    let freeSlots = this.options.runLease ? this.options.stepSlots.available() : 0;
    return writes.map((write) => {
      if (write.eventType !== 'step_created' || write.eventData.stepName.startsWith(childStepPrefix)) return write;
      const inline = freeSlots > 0 && stepRegistry.has(write.eventData.stepName);
      if (inline) freeSlots -= 1;
      const placement = inline ? ('inline' as const) : ('queue' as const);
      return Object.assign({}, write, { eventData: Object.assign({}, write.eventData, { placement }) });
    });
  }

  /** The messages a batch implies: each queued step's first attempt, and each future wait's timer. */
  private outbox(replay: WorkflowReplay, writes: readonly CreateEventRequest[]): EnqueueRequest[] {
    const runId = replay.runId;
    const enqueue: EnqueueRequest[] = [];
    const now = this.options.clock.now();
    for (const write of writes) {
      if (write.eventType === 'step_created' && write.eventData.placement === 'queue') {
        enqueue.push(stepMessage(runId, write.correlationId, 0, 0, asTraceCarrier(replay.traceContext)));
      } else if (write.eventType === 'wait_created' && write.eventData.resumeAt > now) {
        enqueue.push(
          wakeRequest(runId, this.options.runLease, {
            dueAt: write.eventData.resumeAt,
            now,
            key: `wait:${runId}:${write.correlationId}`,
          }),
        );
      }
    }
    return enqueue;
  }
}
