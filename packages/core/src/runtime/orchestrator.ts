import type { WorkflowDefinition } from '../workflow/definitions.js';
import type { WorkflowReplay } from '../workflow/replay.js';
import { type Clock, toClock } from '../world/clock.js';
import { FenceConflictError } from '../world/errors/fence-conflict-error.js';
import { RunNotFoundError } from '../world/errors/run-not-found-error.js';
import { RunTerminalError } from '../world/errors/run-terminal-error.js';
import type { World } from '../world/world.js';
import { Children, sendArguments } from './children.js';
import { shareClockReading } from './client-stamps.js';
import { InlineSteps } from './inline-steps.js';
import { keepLease, LeaseLostError } from './lease.js';
import { Recorder } from './recorder.js';
import { ReplayLoader } from './replay-loader.js';
import { PassLoop, type StopState, type WakeContext } from './run-pass.js';
import { sharedStopController } from './shared-stop.js';
import { SpeculationMargin } from './speculation-margin.js';
import type { BeforeStepAttempt } from './step-executor.js';
import type { StepSlots } from './step-slots.js';
import { wakeRequest } from './topics.js';
import { WorldClock } from './world-clock.js';
import { isOutage, SpeculationRefused } from './write-refusals.js';

export type { WakeContext } from './run-pass.js';

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

/** How many times one wake re-derives after losing a fence before handing the message back. */
const maxConflictsPerWake = 6;
/** Warm replays kept per worker; the least recently used beyond this are dropped (and rebuilt when needed). */
const maxWarmRuns = 1000;

/**
 * The I/O half of the engine. A wake drives one run forward with a pass (run-pass.ts) on
 * the run's warm replay, or on one built from the log. This class keeps the warm replays,
 * and decides what a failed pass means: a lost fence or a refused batch is derived again
 * on a caught-up or rebuilt replay, never re-posted; anything else hands the wake back.
 */
export class Orchestrator implements StopState {
  /** The World's clock as this worker estimates it; every due time is judged on it. */
  readonly clock: WorldClock;
  readonly inline: InlineSteps;
  /** Insertion order is recency order: a run is re-inserted whenever it is used. */
  private readonly warm = new Map<string, WorkflowReplay>();
  /** Runs with a pass in progress here; a second pass (after a lease expiry) must not share the first one's replay. */
  private readonly active = new Set<string>();
  readonly recorder: Recorder;
  private readonly loader: ReplayLoader;
  private readonly passes: PassLoop;
  private stopRequested = false;
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
    this.loader = new ReplayLoader(options.world, options.workflows, options.runLease);
    this.passes = new PassLoop({
      world: options.world,
      runLease: options.runLease,
      clock: this.clock,
      inline: this.inline,
      recorder: this.recorder,
      children: new Children(options.world, this.recorder, options.runLease),
      loader: this.loader,
      stop: this,
      sendWake: (runId) => this.sendWake(runId),
    });
  }

  /** Whether stop() was called since the last start(): passes start no step attempts. */
  get stopping(): boolean {
    return this.stopRequested;
  }

  /** Aborts when the worker starts to stop. */
  get signal(): AbortSignal {
    return this.stopped.signal;
  }

  /** Lets passes start step attempts (again, after a stop). */
  start(): void {
    this.stopRequested = false;
    if (this.stopped.signal.aborted) this.stopped = sharedStopController();
  }

  /** Stops starting step attempts and aborts the signals of running ones; passes finish recording them. */
  stop(): void {
    this.stopRequested = true;
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
              (outcome) => this.recorder.facts.recordAlone(runId, outcome),
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
      return this.passes.run(await this.loader.load(runId), context, leaseLost, true);
    }
    this.active.add(runId);
    try {
      const warm = created ?? this.warm.get(runId);
      const replay = warm ?? (await this.loader.load(runId));
      this.warm.delete(runId);
      if (this.options.runLease) {
        this.warm.set(runId, replay);
        if (this.warm.size > maxWarmRuns) this.warm.delete(this.warm.keys().next().value!);
      }
      await this.passes.run(replay, context, leaseLost, warm === undefined || created !== undefined);
      if (replay.isTerminal) this.warm.delete(runId);
    } finally {
      this.active.delete(runId);
    }
  }
}
