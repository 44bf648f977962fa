import { WorkflowStalledError } from '../errors/workflow-stalled-error.js';
import { stepRegistry } from '../workflow/definitions.js';
import type { WorkflowReplay } from '../workflow/replay.js';
import { RunTerminalError } from '../world/errors/run-terminal-error.js';
import type { World } from '../world/world.js';
import { type Children, sendArguments } from './children.js';
import type { InlineSteps } from './inline-steps.js';
import { type Lease, LeaseLostError } from './lease.js';
import type { Recorder } from './recorder.js';
import type { ReplayLoader } from './replay-loader.js';
import { wakeRequest } from './topics.js';
import { asTraceCarrier } from './tracing.js';
import type { WorldClock } from './world-clock.js';
import { isTransient } from './write-refusals.js';

/** What the queue told a pass about the message that started it. */
export interface WakeContext {
  /** Set when a timer woke the run: the World time its wait or retry falls due. */
  dueAt?: number;
  /** The delivery's lease, and how to renew it while the pass runs. */
  lease?: Lease;
}

/** Whether the worker is stopping, and the signal that aborts when it starts to. */
export interface StopState {
  readonly stopping: boolean;
  readonly signal: AbortSignal;
}

/** What a pass works with: the worker's parts it shares with every other pass. */
export interface PassParts {
  world: World;
  runLease: boolean;
  clock: WorldClock;
  inline: InlineSteps;
  recorder: Recorder;
  children: Children;
  loader: ReplayLoader;
  stop: StopState;
  /** Sends the run a wake now, for work this pass leaves to another. */
  sendWake(runId: string): Promise<unknown>;
}

/**
 * A pass with no step running stays for a wait or retry due within this long, rather than
 * ending and leaving it to a timer message. It absorbs small disagreements between clocks.
 */
const holdForDueMs = 1000;

/**
 * One pass of a run: decide, write under the fence, run the steps placed inline, record
 * their outcomes with the decisions they cause, and repeat until nothing runs here and the
 * run waits on something that will wake it through the queue (or it ends).
 */
export class PassLoop {
  constructor(private readonly parts: PassParts) {}

  /**
   * Runs the pass to its end. `caughtUp`: the replay was just loaded, so the pass starts
   * without re-reading the log. Throws `RunTerminalError` when the pass failed the run, and
   * `LeaseLostError` once `leaseLost` aborts.
   */
  async run(replay: WorkflowReplay, context: WakeContext, leaseLost: AbortSignal, caughtUp: boolean): Promise<void> {
    const { world, recorder, inline, children, clock, loader, stop } = this.parts;
    const runId = replay.runId;
    let behind = !caughtUp;
    // Events a client in this process appended may stand in for the first read of the pass;
    // after a lost fence the pass reads the log.
    let startOfPass = true;
    for (;;) {
      if (leaseLost.aborted) throw new LeaseLostError(`the lease on run ${runId}'s wake was lost`);
      // Our own commits are fed back directly, so the log only needs re-reading when
      // something else may have written: at the start, after a watch fires, after a lost fence.
      if (behind) await loader.catchUp(replay, startOfPass);
      behind = false;
      startOfPass = false;
      if (replay.isTerminal) {
        inline.abandonRun(runId, `run ${runId} has ended`);
        await children.finish(replay);
        return;
      }
      if (replay.divergedWith) {
        await recorder.facts.failRun(replay, replay.divergedWith);
        throw new RunTerminalError({ runId, status: 'failed' });
      }
      const writes = replay.decide(clock.now());
      if (writes.length > 0) {
        behind = !(await recorder.commit(replay, writes));
        continue;
      }
      if (replay.stalled) {
        const error = new WorkflowStalledError({ runId, workflowName: replay.workflowName });
        await recorder.facts.failRun(replay, error);
        throw new RunTerminalError({ runId, status: 'failed' });
      }
      if (await children.start(replay)) {
        behind = true;
        continue;
      }
      this.startSteps(replay);
      // Every step that has settled by now is recorded in the same batch: a burst of
      // completions costs one durable write, not one each.
      const outcomes = inline.takeSettled(runId);
      if (outcomes.length > 0) {
        try {
          behind = !(await recorder.record(replay, outcomes));
        } catch (error) {
          if (isTransient(error)) inline.restore(runId, outcomes);
          throw error;
        }
        continue;
      }
      const running = inline.anySettled(runId);
      const dueAt = replay.nextDueAt();
      const untilDue = dueAt === undefined ? undefined : Math.max(0, dueAt - clock.now());
      if (!running && (stop.stopping || untilDue === undefined || untilDue > holdForDueMs)) {
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
        ...(untilDue === undefined || stop.stopping ? [] : [delay(clock, untilDue + 1, done.signal, 'due' as const)]),
        aborted(leaseLost, 'lost' as const, done.signal),
        // A stop ends a hold (not a wait for a running step, which stop() lets finish): the
        // next turn hands the due work off. Under a virtual clock the hold would never end.
        ...(running ? [] : [aborted(stop.signal, 'stopping' as const, done.signal)]),
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
    const { world, clock, stop } = this.parts;
    const now = clock.now();
    const dueAt = replay.nextDueAt();
    if (dueAt !== undefined && context.dueAt !== undefined && dueAt <= context.dueAt && dueAt > now) {
      const request = wakeRequest(replay.runId, this.parts.runLease, {
        dueAt,
        now,
        key: `timer:${replay.runId}:${dueAt}:${now}`,
      });
      await world.queue.send(...sendArguments(request));
    } else if (stop.stopping && ((dueAt !== undefined && dueAt <= now + holdForDueMs) || this.leftUnstarted(replay))) {
      await this.parts.sendWake(replay.runId);
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
          !this.parts.inline.has(replay.runId, step.id),
      );
  }

  /** Starts every due inline step that has no attempt running on this worker. */
  private startSteps(replay: WorkflowReplay): void {
    const { clock, inline, stop } = this.parts;
    if (stop.stopping) return;
    const now = clock.now();
    for (const step of replay.openSteps()) {
      if (step.child || step.placement !== 'inline' || inline.has(replay.runId, step.id)) continue;
      if (step.retryAfter !== undefined && step.retryAfter > now) continue;
      const definition = stepRegistry.get(step.name);
      if (!definition) {
        // Placed inline by a worker that knew the step: this one runs other code. Failing
        // the pass hands the wake back, to a worker that has the step.
        throw new Error(`Step "${step.name}" of run ${replay.runId} is not defined in this worker`);
      }
      inline.run(replay.runId, definition, step, asTraceCarrier(replay.traceContext));
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
