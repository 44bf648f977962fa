import { ReplayDivergenceError } from '../errors/replay-divergence-error.js';
import { WorkflowStalledError } from '../errors/workflow-stalled-error.js';
import type { WorkflowDefinition } from '../workflow/definitions.js';
import { stepRegistry } from '../workflow/definitions.js';
import { WorkflowReplay } from '../workflow/replay.js';
import { type Clock, toClock } from '../world/clock.js';
import { FenceConflictError } from '../world/errors/fence-conflict-error.js';
import { RunNotFoundError } from '../world/errors/run-not-found-error.js';
import { RunTerminalError } from '../world/errors/run-terminal-error.js';
import type { WorldEvent } from '../world/schemas/events.js';
import type { World } from '../world/world.js';
import { cancelRunTree } from './cancel.js';
import { Children, sendArguments } from './children.js';
import { takeClientAppends } from './client-appends.js';
import { shareClockReading } from './client-stamps.js';
import { InlineSteps } from './inline-steps.js';
import { keepLease, type Lease, LeaseLostError } from './lease.js';
import { isOutage, isTransient, Recorder, SpeculationRefused } from './recorder.js';
import { sharedStopController } from './shared-stop.js';
import { SpeculationMargin } from './speculation-margin.js';
import type { BeforeStepAttempt } from './step-executor.js';
import type { StepSlots } from './step-slots.js';
import { wakeRequest } from './topics.js';
import { asTraceCarrier } from './tracing.js';
import { WorldClock } from './world-clock.js';

export interface OrchestratorOptions {
  world: World;
  workflows: ReadonlyMap<string, WorkflowDefinition>;
  /** One orchestrator per run (queue group) and warm replays; false only to prove the fences. */
  runLease: boolean;
  /** Inline step slots shared by every run on this worker. */
  stepSlots: StepSlots;
  /**
   * How far ahead a speculative batch stamps its createdAt, so the commit lands before it:
   * the floor of an adaptive margin (SpeculationMargin) that widens while appends are slow.
   */
  speculationMarginMs?: number;
  /** This worker's own clock; the engine estimates the World's clock from it. Default `systemClock`. */
  clock?: Clock | (() => number);
  /** Runs before each inline step attempt's body; see `BeforeStepAttempt`. */
  beforeStepAttempt?: BeforeStepAttempt;
}

/** What the queue told a pass about the message that started it. */
export interface WakeContext {
  /** Set when a timer woke the run: the World time its wait or retry falls due. */
  dueAt?: number;
  /** The delivery's lease, and how to renew it while the pass runs. */
  lease?: Lease;
}

/** How many times one wake re-derives after losing a fence before handing the message back. */
const maxConflictsPerWake = 6;
/** Warm replays kept per worker; the least recently used beyond this are dropped (and rebuilt when needed). */
const maxWarmRuns = 1000;
/**
 * A pass with no step running stays for a wait or retry due within this long, rather than
 * ending and leaving it to a timer message. It absorbs small disagreements between clocks.
 */
const holdForDueMs = 1000;

/**
 * The I/O half of the engine. A wake drives one run forward: catch the replay up with the
 * log, write what it derives under a fence on the tail it consumed, run the steps placed
 * inline, and record each completion together with the decisions it causes in one fenced
 * batch. A lost fence never re-posts: the replay is caught up (or rebuilt) and decides again.
 */
export class Orchestrator {
  /** The World's clock as this worker estimates it; every due time is judged on it. */
  readonly clock: WorldClock;
  readonly inline: InlineSteps;
  /** Insertion order is recency order: a run is re-inserted whenever it is used. */
  private readonly warm = new Map<string, WorkflowReplay>();
  /** Runs with a pass in progress here; a second pass (after a lease expiry) must not share the first one's replay. */
  private readonly active = new Set<string>();
  readonly recorder: Recorder;
  private readonly children: Children;
  private stopping = false;
  /** Aborted by stop(): a pass holding for a wait about to fall due hands it off instead of holding on. */
  private stopped = sharedStopController();

  constructor(private readonly options: OrchestratorOptions) {
    const floor = options.speculationMarginMs ?? 25;
    // Half the World's window at most (an unbounded window leaves the second), and never
    // more than a second of skew on the run's now().
    const window = options.world.capabilities.maxFutureCreatedAtMs;
    const ceiling = Math.max(floor, Math.min(1000, window / 2));
    this.clock = new WorldClock(toClock(options.clock));
    this.inline = new InlineSteps(options.world, options.stepSlots, this.clock, options.beforeStepAttempt);
    const margin = new SpeculationMargin(floor, ceiling, () => this.clock.localNow());
    this.recorder = new Recorder({
      world: options.world,
      runLease: options.runLease,
      stepSlots: options.stepSlots,
      clock: this.clock,
      margin,
    });
    // Clients of this World in this process stamp their appends from the same reading.
    shareClockReading(options.world, { clock: this.clock, margin });
    this.children = new Children(options.world, this.recorder, options.runLease);
  }

  /** Lets passes start step attempts (again, after a stop). */
  start(): void {
    this.stopping = false;
    if (this.stopped.signal.aborted) this.stopped = sharedStopController();
  }

  /** Stops starting step attempts and aborts the signals of running ones; passes finish recording them. */
  stop(): void {
    this.stopping = true;
    this.stopped.abort();
    this.inline.stop();
  }

  /** Whether this worker holds a warm replay of `runId` (it ran the run's last pass). */
  isWarm(runId: string): boolean {
    return this.warm.has(runId);
  }

  /** Forgets every warm replay (on stop). */
  clear(): void {
    this.warm.clear();
  }

  /**
   * `created`: the replay of a run this process just created with its first pass's
   * decisions (first-pass.ts), caught up with that append; the pass goes on from it.
   */
  async wake(runId: string, context: WakeContext = {}, created?: WorkflowReplay): Promise<void> {
    const lease = keepLease(context.lease);
    try {
      for (let conflicts = 0; ; conflicts++) {
        try {
          // After a lost fence the replay is rebuilt from the log, never taken again.
          await this.drive(runId, context, lease.lost, conflicts === 0 ? created : undefined);
          return;
        } catch (error) {
          this.warm.delete(runId);
          if (RunTerminalError.is(error) || RunNotFoundError.is(error)) return;
          const recordAttemptsAlone = () =>
            this.inline.orphan(
              runId,
              (outcome) => this.recorder.recordAlone(runId, outcome),
              () => void this.sendWake(runId).catch(() => {}),
            );
          if (error instanceof LeaseLostError) {
            // The wake may already be with another worker: record what settles, without waiting.
            void recordAttemptsAlone();
            throw error;
          }
          // A brief outage is also waited out here rather than handed back to the queue: the
          // redelivery could go to another worker, which cannot know that a step this pass
          // started is still running, and would start it a second time.
          const rederive = FenceConflictError.is(error) || error instanceof SpeculationRefused || isOutage(error);
          if (!rederive || conflicts >= maxConflictsPerWake) {
            // Giving the wake back while a step this pass started is unrecorded would let
            // another worker, which cannot know of the attempt, start it again. So the pass
            // first waits for its attempts and records each alone (the lease is still
            // renewed meanwhile); only what cannot be recorded is left to a new attempt.
            await recordAttemptsAlone();
            throw error;
          }
          // Jittered backoff: two orchestrators that keep colliding drift apart.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * 2 ** Math.min(conflicts, 5)));
        }
      }
    } finally {
      lease.stop();
    }
  }

  /** A wake for the run, now; for work found elsewhere than in a pass. */
  sendWake(runId: string): Promise<unknown> {
    return this.options.world.queue.send(...sendArguments(wakeRequest(runId, this.options.runLease)));
  }

  private async drive(
    runId: string,
    context: WakeContext,
    leaseLost: AbortSignal,
    created: WorkflowReplay | undefined,
  ): Promise<void> {
    if (this.active.has(runId)) {
      // Another pass of this run is live in this worker (its lease expired): work on a cold
      // replay of our own, and let the fences sort out which writes land.
      return this.pass(await this.load(runId), context, leaseLost, true);
    }
    this.active.add(runId);
    try {
      const warm = created ?? this.warm.get(runId);
      const replay = warm ?? (await this.load(runId));
      this.warm.delete(runId);
      if (this.options.runLease) {
        this.warm.set(runId, replay);
        if (this.warm.size > maxWarmRuns) this.warm.delete(this.warm.keys().next().value!);
      }
      await this.pass(replay, context, leaseLost, warm === undefined || created !== undefined);
    } finally {
      this.active.delete(runId);
    }
  }

  /** `caughtUp`: the replay was just loaded, so the pass starts without re-reading the log. */
  private async pass(
    replay: WorkflowReplay,
    context: WakeContext,
    leaseLost: AbortSignal,
    caughtUp: boolean,
  ): Promise<void> {
    const { world } = this.options;
    const runId = replay.runId;
    let behind = !caughtUp;
    // Events a client in this process appended may stand in for the first read of the pass;
    // after a lost fence the pass reads the log.
    let startOfPass = true;
    for (;;) {
      if (leaseLost.aborted) throw new LeaseLostError(`the lease on run ${runId}'s wake was lost`);
      // Our own commits are fed back directly, so the log only needs re-reading when
      // something else may have written: at the start, after a watch fires, after a lost fence.
      if (behind) await this.catchUp(replay, startOfPass);
      behind = false;
      startOfPass = false;
      if (replay.isTerminal) {
        this.warm.delete(runId);
        this.inline.abandonRun(runId, `run ${runId} has ended`);
        await this.children.finish(replay);
        return;
      }
      if (replay.divergedWith) {
        await this.recorder.failRun(replay, replay.divergedWith);
        throw new RunTerminalError({ runId, status: 'failed' });
      }
      const writes = replay.decide(this.clock.now());
      if (writes.length > 0) {
        behind = !(await this.recorder.commit(replay, writes));
        continue;
      }
      if (replay.stalled) {
        const error = new WorkflowStalledError({ runId, workflowName: replay.workflowName });
        await this.recorder.failRun(replay, error);
        throw new RunTerminalError({ runId, status: 'failed' });
      }
      if (await this.children.start(replay)) {
        behind = true;
        continue;
      }
      this.startSteps(replay);
      // Every step that has settled by now is recorded in the same batch: a burst of
      // completions costs one durable write, not one each.
      const outcomes = this.inline.takeSettled(runId);
      if (outcomes.length > 0) {
        try {
          behind = !(await this.recorder.record(replay, outcomes));
        } catch (error) {
          if (isTransient(error)) this.inline.restore(runId, outcomes);
          throw error;
        }
        continue;
      }
      const running = this.inline.anySettled(runId);
      const dueAt = replay.nextDueAt();
      const untilDue = dueAt === undefined ? undefined : Math.max(0, dueAt - this.clock.now());
      if (!running && (this.stopping || untilDue === undefined || untilDue > holdForDueMs)) {
        // Nothing runs here any more: the run waits on hooks, timers or queued steps, each
        // of which wakes it again through the queue.
        await this.handOff(replay, context);
        return;
      }
      // A body that does no I/O has settled before the event loop turns: record it without
      // subscribing to the log first, which would cost the World a read and a subscription
      // per step for nothing. Anything that arrives meanwhile is read on the next catch-up.
      if (running && (await settlesThisTurn(running))) continue;
      // Wait for a step to settle, the log to move (a hook delivery, a cancel, a queued
      // step's outcome), a wait or retry to fall due, or the lease to be lost.
      const done = new AbortController();
      const woken = await Promise.race([
        ...(running ? [running.then(() => 'settled' as const)] : []),
        world.events.watch(runId, replay.tail.seq, done.signal).then(() => 'moved' as const),
        ...(untilDue === undefined || this.stopping
          ? []
          : [delay(this.clock, untilDue + 1, done.signal, 'due' as const)]),
        aborted(leaseLost, 'lost' as const, done.signal),
        // A stop ends a hold (not a wait for a running step, which stop() lets finish): the
        // next turn hands the due work off. Under a virtual clock the hold would never end.
        ...(running ? [] : [aborted(this.stopped.signal, 'stopping' as const, done.signal)]),
      ]).finally(() => done.abort());
      if (woken === 'moved') behind = true;
    }
  }

  /**
   * The pass ends. A timer that woke it early (the clocks disagreed by more than the pass
   * will wait) gets a successor under a fresh key; a stopping worker hands due work it did
   * not start (a retry about to fall due, a step it placed but did not start) to whichever
   * worker takes the next wake.
   */
  private async handOff(replay: WorkflowReplay, context: WakeContext): Promise<void> {
    const now = this.clock.now();
    const dueAt = replay.nextDueAt();
    if (dueAt !== undefined && context.dueAt !== undefined && dueAt <= context.dueAt && dueAt > now) {
      const request = wakeRequest(replay.runId, this.options.runLease, {
        dueAt,
        now,
        key: `timer:${replay.runId}:${dueAt}:${now}`,
      });
      await this.options.world.queue.send(...sendArguments(request));
    } else if (this.stopping && ((dueAt !== undefined && dueAt <= now + holdForDueMs) || this.leftUnstarted(replay))) {
      await this.sendWake(replay.runId);
    }
  }

  /**
   * Whether the run has a step placed inline that no attempt here runs: a pass that was
   * stopping when it committed the step did not start it, and nothing else would wake the
   * run for it.
   */
  private leftUnstarted(replay: WorkflowReplay): boolean {
    return replay
      .openSteps()
      .some(
        (step) =>
          step.placement === 'inline' &&
          !step.child &&
          step.retryAfter === undefined &&
          !this.inline.has(replay.runId, step.id),
      );
  }

  /**
   * A cold replay, caught up. The log's first event names the workflow and the parent, so
   * one read of the log is all a cold pass needs before it can decide.
   */
  private async load(runId: string): Promise<WorkflowReplay> {
    const { world } = this.options;
    // A run a client in this process just created: its log so far is known (client-appends.ts).
    const known = takeClientAppends(world, runId, 0);
    const page = known ? { data: known, hasMore: false } : await world.events.list(runId, { afterSeq: 0, limit: 1000 });
    const created = page.data[0];
    if (created?.eventType !== 'run_created') {
      throw new Error(`The log of run ${runId} does not start with run_created`);
    }
    const { workflowName } = created.eventData;
    const definition = this.options.workflows.get(workflowName);
    if (!definition) {
      throw new Error(`Run ${runId} is of workflow "${workflowName}", which this worker does not have`);
    }
    const replay = new WorkflowReplay(runId, definition);
    if (await this.feed(replay, page.data)) {
      if (page.hasMore) await this.catchUp(replay);
    }
    if (replay.parent !== undefined && !replay.isTerminal) {
      // A cancel cascade that died half way: finish it from the child's side.
      const parent = await world.runs.get(replay.parent.runId);
      if (parent.status === 'cancelled') {
        await cancelRunTree(world, runId, `parent run ${parent.runId} was cancelled`);
        await this.catchUp(replay);
      }
    }
    return replay;
  }

  /** Feeds events in order; false once the replay has diverged (it records why). */
  private async feed(replay: WorkflowReplay, events: readonly WorldEvent[]): Promise<boolean> {
    for (const event of events) {
      try {
        await replay.feed(event);
      } catch (error) {
        if (ReplayDivergenceError.is(error)) return false;
        throw error;
      }
    }
    return true;
  }

  private async catchUp(replay: WorkflowReplay, mayUseClientAppends = false): Promise<void> {
    const known = mayUseClientAppends
      ? takeClientAppends(this.options.world, replay.runId, replay.tail.seq)
      : undefined;
    if (known !== undefined) {
      await this.feed(replay, known);
      return;
    }
    for (;;) {
      const page = await this.options.world.events.list(replay.runId, { afterSeq: replay.tail.seq, limit: 1000 });
      if (!(await this.feed(replay, page.data)) || !page.hasMore) return;
    }
  }

  /** Starts every due inline step that has no attempt running on this worker. */
  private startSteps(replay: WorkflowReplay): void {
    if (this.stopping) return;
    const now = this.clock.now();
    for (const step of replay.openSteps()) {
      if (step.child || step.placement !== 'inline' || this.inline.has(replay.runId, step.id)) continue;
      if (step.retryAfter !== undefined && step.retryAfter > now) continue;
      const definition = stepRegistry.get(step.name);
      if (!definition) {
        // Placed inline by a worker that knew the step: this one runs other code. Failing
        // the pass hands the wake back, to a worker that has the step.
        throw new Error(`Step "${step.name}" of run ${replay.runId} is not defined in this worker`);
      }
      this.inline.run(replay.runId, definition, step, asTraceCarrier(replay.traceContext));
    }
  }
}

/** Whether `settling` settles before the event loop's next turn (its pending I/O callbacks and timers). */
function settlesThisTurn(settling: Promise<void>): Promise<boolean> {
  return new Promise((resolve) => {
    const nextTurn = setImmediate(() => resolve(false));
    void settling.then(() => {
      clearImmediate(nextTurn);
      resolve(true);
    });
  });
}

/**
 * Resolves with `value` after `ms` on the worker's clock (so a test's virtual time moves it),
 * unless `signal` aborts first (then the callback is cancelled and it never settles).
 */
function delay<Value>(clock: WorldClock, ms: number, signal: AbortSignal, value: Value): Promise<Value> {
  return new Promise((resolve) => {
    const scheduled = clock.after(ms, () => resolve(value));
    signal.addEventListener('abort', () => scheduled.cancel(), { once: true });
  });
}

/** Resolves with `value` when `signal` aborts; its listener is removed once `done` aborts. */
function aborted<Value>(signal: AbortSignal, value: Value, done: AbortSignal): Promise<Value> {
  if (signal.aborted) return Promise.resolve(value);
  return new Promise((resolve) => {
    const onAbort = () => resolve(value);
    signal.addEventListener('abort', onAbort, { once: true });
    done.addEventListener('abort', () => signal.removeEventListener('abort', onAbort), { once: true });
  });
}
