import { ReplayDivergenceError } from '../errors/replay-divergence-error.js';
import type { WorkflowDefinition } from '../workflow/definitions.js';
import { stepRegistry } from '../workflow/definitions.js';
import { childStepPrefix, type StepCommand, serializeError, WorkflowReplay } from '../workflow/replay.js';
import { EntityConflictError } from '../world/errors/entity-conflict-error.js';
import { FenceConflictError } from '../world/errors/fence-conflict-error.js';
import { HookTokenConflictError } from '../world/errors/hook-token-conflict-error.js';
import { RunNotFoundError } from '../world/errors/run-not-found-error.js';
import { RunTerminalError } from '../world/errors/run-terminal-error.js';
import { formatEventId } from '../world/run-draft.js';
import { isTerminalRunStatus, type Run } from '../world/schemas/entities.js';
import type { CreateEventRequest, WorldEvent } from '../world/schemas/events.js';
import { limits } from '../world/schemas/primitives.js';
import type { EnqueueRequest, World } from '../world/world.js';
import { cancelRunTree, closeRunStreams } from './cancel.js';
import { SpeculationMargin } from './speculation-margin.js';
import { runStepAttempt, type StepOutcome } from './step-executor.js';
import { stepTopic, workflowTopic } from './topics.js';

export interface OrchestratorOptions {
  world: World;
  workflows: ReadonlyMap<string, WorkflowDefinition>;
  /** One orchestrator per run (queue group) and warm replays; false only to prove the fences. */
  runLease: boolean;
  /** Inline step slots shared by every run on this worker. */
  stepSlots: { tryAcquire(): boolean; release(): void; available(): number };
  /**
   * How far ahead a speculative batch stamps its createdAt, so the commit lands before it:
   * the floor of an adaptive margin (SpeculationMargin) that widens while appends are slow.
   */
  speculationMarginMs?: number;
}

interface Settled {
  stepId: string;
  outcome: StepOutcome;
}

/** How many times one wake re-derives after losing a fence before handing the message back. */
const maxConflictsPerWake = 6;

/**
 * The I/O half of the engine. A wake drives one run forward: catch the replay up with the
 * log, write what it derives under a fence on the tail it consumed, run the steps it opened,
 * and record each completion together with the decisions it causes in one fenced batch.
 * A lost fence never re-posts: the replay is dropped and rebuilt from the log (DESIGN §4).
 */
/** Warm replays kept per worker; the least recently used beyond this are dropped (and rebuilt when needed). */
const maxWarmRuns = 1000;

export class Orchestrator {
  /** Insertion order is recency order: a run is re-inserted whenever it is used. */
  private readonly warm = new Map<string, WorkflowReplay>();
  /** Runs with a pass in progress here; a second pass (after a lease expiry) must not share the first one's replay. */
  private readonly active = new Set<string>();
  private readonly margin: SpeculationMargin;
  /** Child runs this worker has created or seen running, so a parent pass does not re-check them all. */
  private readonly childrenEnsured = new Set<string>();
  /** Outcomes of inline attempts that have settled, keyed by their promise, so a burst can be recorded at once. */
  private readonly settledOutcomes = new WeakMap<Promise<Settled>, StepOutcome>();

  constructor(private readonly options: OrchestratorOptions) {
    const floor = options.speculationMarginMs ?? 25;
    // Half the World's window at most (an unbounded window leaves the second), and never
    // more than a second of skew on the run's now().
    const window = options.world.capabilities.maxFutureCreatedAtMs;
    const ceiling = Math.max(floor, Math.min(1000, window / 2));
    this.margin = new SpeculationMargin(floor, ceiling);
  }

  /** Forgets every warm replay (on stop). */
  clear(): void {
    this.warm.clear();
  }

  async wake(runId: string): Promise<void> {
    // Steps started by this wake, kept across re-derivations so a conflict never runs them twice here.
    const inflight = new Map<string, Promise<Settled>>();
    const dispatched = new Set<string>();
    for (let conflicts = 0; ; conflicts++) {
      try {
        await this.drive(runId, inflight, dispatched);
        return;
      } catch (error) {
        this.warm.delete(runId);
        if (RunTerminalError.is(error) || RunNotFoundError.is(error)) return;
        if (!FenceConflictError.is(error) || conflicts >= maxConflictsPerWake) throw error;
        // Jittered backoff: two orchestrators that keep colliding drift apart.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * 2 ** Math.min(conflicts, 5)));
      }
    }
  }

  private async drive(runId: string, inflight: Map<string, Promise<Settled>>, dispatched: Set<string>): Promise<void> {
    if (this.active.has(runId)) {
      // Another pass of this run is live in this worker (its lease expired): work on a cold
      // replay of our own, and let the fences sort out which writes land.
      return this.driveReplay(await this.load(runId), inflight, dispatched);
    }
    this.active.add(runId);
    try {
      const replay = this.warm.get(runId) ?? (await this.load(runId));
      this.warm.delete(runId);
      if (this.options.runLease) {
        this.warm.set(runId, replay);
        if (this.warm.size > maxWarmRuns) this.warm.delete(this.warm.keys().next().value!);
      }
      await this.driveReplay(replay, inflight, dispatched);
    } finally {
      this.active.delete(runId);
    }
  }

  private async driveReplay(
    replay: WorkflowReplay,
    inflight: Map<string, Promise<Settled>>,
    dispatched: Set<string>,
  ): Promise<void> {
    const { world } = this.options;
    const runId = replay.runId;
    let behind = true;
    for (;;) {
      // Our own commits are fed back directly, so the log only needs re-reading when
      // something else may have written: at the start, after a watch fires, after a lost fence.
      if (behind) await this.catchUp(replay);
      behind = false;
      if (replay.isTerminal) {
        this.warm.delete(runId);
        await this.finish(replay);
        return;
      }
      if (replay.divergedWith) {
        await this.failDiverged(replay, replay.divergedWith);
        continue;
      }
      const writes = replay.decide(Date.now());
      if (writes.length > 0) {
        behind = !(await this.commit(replay, writes, dispatched));
        continue;
      }
      await this.armTimers(replay);
      if (await this.startChildren(replay, dispatched)) {
        behind = true;
        continue;
      }
      await this.startSteps(replay, inflight, dispatched);
      // Nothing runs here any more: the run waits on hooks, timers or queued steps, each of
      // which wakes it again through the queue.
      if (inflight.size === 0) return;
      // Wait for a step to settle, or for the log to move (a hook delivery, a cancel).
      const moved = new AbortController();
      const next = await Promise.race([
        ...inflight.values(),
        world.events.watch(runId, replay.tail.seq, moved.signal).then(() => undefined),
      ]).finally(() => moved.abort());
      if (!next) {
        behind = true;
        continue;
      }
      // Every step that has settled by now is recorded in the same batch: a burst of
      // completions costs one durable write, not one each.
      const outcomes: StepOutcome[] = [];
      for (const [stepId, settled] of [...inflight]) {
        const outcome = this.settledOutcomes.get(settled);
        if (!outcome) continue;
        inflight.delete(stepId);
        this.settledOutcomes.delete(settled);
        outcomes.push(outcome);
      }
      behind = !(await this.record(replay, outcomes, dispatched));
    }
  }

  private async load(runId: string): Promise<WorkflowReplay> {
    const run = await this.options.world.runs.get(runId);
    if (run.parentRunId !== undefined && !isTerminalRunStatus(run.status)) {
      // A cancel cascade that died half way: finish it from the child's side.
      const parent = await this.options.world.runs.get(run.parentRunId);
      if (parent.status === 'cancelled')
        await cancelRunTree(this.options.world, runId, `parent run ${parent.runId} was cancelled`);
    }
    const definition = this.options.workflows.get(run.workflowName);
    if (!definition) {
      throw new Error(`Run ${runId} is of workflow "${run.workflowName}", which this worker does not have`);
    }
    return new WorkflowReplay(runId, definition);
  }

  private async catchUp(replay: WorkflowReplay): Promise<void> {
    for (;;) {
      const page = await this.options.world.events.list(replay.runId, { afterSeq: replay.tail.seq, limit: 1000 });
      for (const event of page.data) {
        try {
          await replay.feed(event);
        } catch (error) {
          if (ReplayDivergenceError.is(error)) return;
          throw error;
        }
      }
      if (!page.hasMore) return;
    }
  }

  /**
   * Appends derived writes under a fence on the tail the replay consumed, then feeds them
   * back. Resolves false when the fence was lost: the writes are discarded, and since the
   * replay has consumed only what is in the log, catching it up and deciding again is
   * exactly what a cold replay would do, without rebuilding it.
   */
  private async commit(
    replay: WorkflowReplay,
    writes: CreateEventRequest[],
    dispatched: Set<string>,
  ): Promise<boolean> {
    let results: Awaited<ReturnType<World['events']['createBatch']>>;
    const outbox = this.outboxFor(replay.runId, writes.slice(0, limits.maxBatchSize));
    try {
      // A batch holds at most limits.maxBatchSize events; whatever is left stays unrecorded
      // in the replay and is decided again on the next turn, fenced on the new tail.
      results = await this.options.world.events.createBatch(replay.runId, writes.slice(0, limits.maxBatchSize), {
        ...(replay.tail.eventId === undefined ? {} : { lastKnownEventId: replay.tail.eventId }),
        enqueue: outbox.enqueue,
      });
    } catch (error) {
      if (FenceConflictError.is(error)) return false;
      if (HookTokenConflictError.is(error)) {
        // The workflow asked for a token another live hook holds. Retrying would fail the
        // same way forever; fail the run so the caller sees why.
        await this.failRun(replay, error);
        return false;
      }
      throw error;
    }
    for (const key of outbox.dispatched) dispatched.add(key);
    for (const { event } of results) await replay.feed(event);
    return true;
  }

  /**
   * The messages a batch implies, sent with it atomically (CreateEventParams.enqueue): a
   * step that will not find an inline slot goes to the step queue, and a wait gets its
   * timer. A crash can then never leave a created step or wait without the message that
   * drives it. Returns the attempt keys of the steps it dispatched.
   */
  private outboxFor(runId: string, writes: readonly CreateEventRequest[]) {
    const enqueue: EnqueueRequest[] = [];
    const dispatched: string[] = [];
    let freeSlots = this.options.stepSlots.available();
    const now = Date.now();
    for (const write of writes) {
      if (write.eventType === 'step_created' && !write.eventData.stepName.startsWith(childStepPrefix)) {
        if (freeSlots > 0 && stepRegistry.has(write.eventData.stepName)) {
          freeSlots -= 1;
          continue;
        }
        enqueue.push({
          topic: stepTopic,
          payload: { runId, stepId: write.correlationId },
          options: { idempotencyKey: `step:${runId}:${write.correlationId}:0` },
        });
        dispatched.push(`${write.correlationId}:0`);
      } else if (write.eventType === 'wait_created' && write.eventData.resumeAt > now) {
        enqueue.push({
          topic: workflowTopic,
          payload: { runId },
          options: {
            delayMs: Math.ceil(write.eventData.resumeAt - now),
            idempotencyKey: `wait:${runId}:${write.correlationId}`,
            ...(this.options.runLease ? { groupKey: runId } : {}),
          },
        });
      }
    }
    return { enqueue, dispatched };
  }

  /**
   * One durable write per step: completions are fed to the replay first (stamped with a
   * createdAt the World will honour exactly), the decisions they cause are derived, and all
   * of it goes in one batch fenced on the tail before the first completion. If the fence is
   * lost, each completion is still a fact and is written alone; the decisions are
   * re-derived from the log. Resolves false when the replay is behind the log afterwards.
   */
  private async record(replay: WorkflowReplay, outcomes: StepOutcome[], dispatched: Set<string>): Promise<boolean> {
    let inSync = true;
    // Retries wake no workflow code, so there is nothing to speculate on: write them as facts.
    for (const outcome of outcomes.filter((candidate) => candidate.eventType === 'step_retrying')) {
      const expectedSeq = replay.tail.seq + 1;
      const written = await this.writeFact(replay.runId, outcome);
      if (inSync && written?.seq === expectedSeq) await replay.feed(written);
      else inSync = false;
    }
    const completions = outcomes.filter((candidate) => candidate.eventType !== 'step_retrying');
    if (completions.length === 0) return inSync;
    const tail = replay.tail;
    if (!inSync || tail.eventId === undefined) {
      for (const completion of completions) await this.writeFact(replay.runId, completion);
      return false;
    }
    const stampedAt = Date.now();
    const createdAt = Math.max(stampedAt + this.margin.ms, tail.createdAt);
    let seq = tail.seq;
    for (const completion of completions) {
      seq += 1;
      await replay.feed({
        ...completion,
        runId: replay.runId,
        seq,
        eventId: formatEventId(seq),
        createdAt,
      } as WorldEvent);
    }
    const decisions = replay.divergedWith ? [] : replay.decide(createdAt);
    const batch = [...completions, ...decisions].slice(0, Math.max(limits.maxBatchSize, completions.length));
    const outbox = this.outboxFor(replay.runId, batch);
    let results: Awaited<ReturnType<World['events']['createBatch']>>;
    try {
      results = await this.options.world.events.createBatch(replay.runId, batch, {
        lastKnownEventId: tail.eventId,
        createdAt,
        enqueue: outbox.enqueue,
      });
    } catch (error) {
      if (FenceConflictError.is(error)) {
        // The tail did not move, so what the World refused is the stamp: it fell into the past.
        if (error.currentTail.eventId === tail.eventId) this.margin.refused(Date.now() - stampedAt);
        for (const completion of completions) await this.writeFact(replay.runId, completion);
      }
      throw error;
    }
    this.margin.committed(Date.now() - stampedAt);
    for (const key of outbox.dispatched) dispatched.add(key);
    replay.adoptCommitted(results[completions.length - 1]!.event);
    for (const { event } of results.slice(completions.length)) await replay.feed(event);
    return true;
  }

  /** Records an outcome unfenced; a second recording of the same step is simply refused. */
  private async writeFact(runId: string, outcome: StepOutcome): Promise<WorldEvent | undefined> {
    try {
      return (await this.options.world.events.create(runId, outcome)).event;
    } catch (error) {
      if (!EntityConflictError.is(error)) throw error;
      return undefined;
    }
  }

  /**
   * The code no longer matches the log at some seq; nothing after that point can be
   * derived. The verdict does not depend on later events, so it is fenced on the run's
   * real tail (read now), not on the seq where the replay stopped.
   */
  private async failDiverged(replay: WorkflowReplay, divergence: ReplayDivergenceError): Promise<void> {
    await this.failRun(replay, divergence);
    throw new RunTerminalError({ runId: replay.runId, status: 'failed' });
  }

  /** Records a failure the engine, not the workflow, found; fenced on the run's real tail. */
  private async failRun(replay: WorkflowReplay, cause: ReplayDivergenceError | HookTokenConflictError): Promise<void> {
    const { lastEventId } = await this.options.world.runs.get(replay.runId);
    await this.options.world.events.create(
      replay.runId,
      { eventType: 'run_failed', eventData: { error: { ...serializeError(cause), code: cause.code } } },
      { lastKnownEventId: lastEventId },
    );
  }

  /** Delayed wakes for waits and step retries in the future; idempotency keys make re-arming free. */
  private async armTimers(replay: WorkflowReplay): Promise<void> {
    const now = Date.now();
    const sends: Promise<unknown>[] = [];
    for (const wait of replay.openWaits()) {
      if (wait.resumeAt > now)
        sends.push(this.sendWake(replay.runId, wait.resumeAt - now, `wait:${replay.runId}:${wait.id}`));
    }
    for (const step of replay.openSteps()) {
      if (step.retryAfter !== undefined && step.retryAfter > now) {
        sends.push(
          this.sendWake(replay.runId, step.retryAfter - now, `retry:${replay.runId}:${step.id}:${step.retries}`),
        );
      }
    }
    await Promise.all(sends);
  }

  sendWake(runId: string, delayMs = 0, idempotencyKey?: string): Promise<unknown> {
    return this.options.world.queue.send(
      workflowTopic,
      { runId },
      {
        ...(delayMs > 0 ? { delayMs: Math.ceil(delayMs) } : {}),
        ...(this.options.runLease ? { groupKey: runId } : {}),
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      },
    );
  }

  /**
   * Makes sure every open child exists and is awake. A child found already ended (its
   * report to us was lost in a crash) is reported now; resolves true when that happened,
   * since the log then moved.
   */
  private async startChildren(replay: WorkflowReplay, dispatched: Set<string>): Promise<boolean> {
    const { world } = this.options;
    let reported = false;
    for (const step of replay.openSteps()) {
      if (!step.child || dispatched.has(step.id) || this.childrenEnsured.has(step.child.runId)) continue;
      dispatched.add(step.id);
      try {
        await world.events.create(step.child.runId, {
          eventType: 'run_created',
          eventData: {
            workflowName: step.child.workflowName,
            input: step.input,
            parentRunId: replay.runId,
            metadata: { parentStepId: step.id },
          },
        });
      } catch (error) {
        if (!EntityConflictError.is(error)) throw error;
        const child = await world.runs.get(step.child.runId);
        if (isTerminalRunStatus(child.status)) {
          await this.reportToParent(child);
          reported = true;
        } else {
          // It exists and is not finished: it has (or, after a restart, recovery gives it) a wake.
          this.rememberChild(step.child.runId);
        }
        continue;
      }
      this.rememberChild(step.child.runId);
      await this.sendWake(step.child.runId);
    }
    return reported;
  }

  private rememberChild(runId: string): void {
    this.childrenEnsured.add(runId);
    // Only an optimisation (it saves a read per open child per pass), so bounded crudely.
    if (this.childrenEnsured.size > 100_000) this.childrenEnsured.clear();
  }

  /** A run ended: close its streams, and if it is a child, tell the parent. */
  private async finish(replay: WorkflowReplay): Promise<void> {
    await closeRunStreams(this.options.world, replay.runId);
    if (!replay.parent) return;
    await this.reportToParent(await this.options.world.runs.get(replay.runId));
  }

  /** Records a child's outcome in its parent's log (a fact: exactly once) and wakes the parent. */
  private async reportToParent(child: Run): Promise<void> {
    const parentStepId = child.metadata?.parentStepId;
    if (child.parentRunId === undefined || typeof parentStepId !== 'string') return;
    const outcome: StepOutcome =
      child.status === 'completed'
        ? {
            eventType: 'step_completed',
            correlationId: parentStepId,
            eventData: child.output === undefined ? {} : { output: child.output },
          }
        : {
            eventType: 'step_failed',
            correlationId: parentStepId,
            eventData: {
              error:
                child.status === 'cancelled'
                  ? {
                      name: 'RunCancelled',
                      message: child.cancelReason ?? `child run ${child.runId} was cancelled`,
                      code: 'RUN_CANCELLED',
                    }
                  : (child.error ?? { name: 'Error', message: `child run ${child.runId} failed` }),
            },
          };
    try {
      await this.writeFact(child.parentRunId, outcome);
    } catch (error) {
      // The parent ended first (cancelled, say): nobody is waiting for this outcome.
      if (RunTerminalError.is(error)) return;
      throw error;
    }
    await this.sendWake(child.parentRunId);
  }

  /** Runs due open steps inline while slots last; the rest go through the step queue. */
  private async startSteps(
    replay: WorkflowReplay,
    inflight: Map<string, Promise<Settled>>,
    dispatched: Set<string>,
  ): Promise<void> {
    const now = Date.now();
    for (const step of replay.openSteps()) {
      if (step.child) continue;
      const attemptKey = `${step.id}:${step.retries}`;
      if (inflight.has(step.id) || dispatched.has(attemptKey)) continue;
      if (step.retryAfter !== undefined && step.retryAfter > now) continue;
      const definition = stepRegistry.get(step.name);
      if (definition && this.options.stepSlots.tryAcquire()) {
        inflight.set(step.id, this.runInline(replay.runId, definition, step));
      } else {
        // Awaited: if the send fails (the World is down), the wake fails and is redelivered,
        // rather than leaving a step that nothing will ever run.
        await this.dispatch(replay.runId, step);
        dispatched.add(attemptKey);
      }
    }
  }

  private runInline(
    runId: string,
    definition: NonNullable<ReturnType<typeof stepRegistry.get>>,
    step: StepCommand,
  ): Promise<Settled> {
    const settled: Promise<Settled> = runStepAttempt(
      definition,
      { stepId: step.id, input: step.input, retries: step.retries },
      { world: this.options.world, runId },
      Date.now,
    )
      .then((outcome) => {
        this.settledOutcomes.set(settled, outcome);
        return { stepId: step.id, outcome };
      })
      .finally(() => this.options.stepSlots.release());
    return settled;
  }

  /** Hands a step to the queue; the step worker records its outcome and wakes the run. */
  private async dispatch(runId: string, step: StepCommand): Promise<void> {
    await this.options.world.queue.send(
      stepTopic,
      { runId, stepId: step.id },
      { idempotencyKey: `step:${runId}:${step.id}:${step.retries}` },
    );
  }
}
