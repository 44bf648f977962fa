import { createHash } from 'node:crypto';
import { ReplayDivergenceError } from '../errors/replay-divergence-error.js';
import { RunFailedError } from '../errors/run-failed-error.js';
import { StepFailedError } from '../errors/step-failed-error.js';
import type { CreateEventRequest, WorldEvent } from '../world/schemas/events.js';
import type { JsonValue } from '../world/schemas/primitives.js';
import { currentIdScope, workflowContext } from './context.js';
import type { WorkflowDefinition } from './definitions.js';
import { seededRandom } from './determinism.js';
import { decode, encode, serializeError } from './serialization.js';

interface Deferred {
  promise: Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: (value: unknown) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<unknown>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  // A rejection nobody awaits (the loser of a Promise.race) must not crash the process.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export interface StepCommand extends Deferred {
  kind: 'step';
  id: string;
  name: string;
  input: JsonValue;
  recorded: boolean;
  settled: boolean;
  /** Failed attempts recorded by step_retrying. */
  retries: number;
  retryAfter: number | undefined;
  /**
   * Where its attempts run, as recorded in its step_created: on the orchestrating worker
   * (`inline`) or by the step queue's consumers (`queue`). Fixed for the step's life, so
   * no pass ever starts an attempt that the queue also runs.
   */
  placement: 'inline' | 'queue';
  /** Set when this "step" is a child run: the orchestrator starts the child instead of running a body. */
  child?: { workflowName: string; runId: string };
}

export interface WaitCommand extends Deferred {
  kind: 'wait';
  id: string;
  resumeAt: number;
  /** When its wait_created was committed; set once recorded. */
  createdAt?: number;
  recorded: boolean;
  settled: boolean;
}

export interface HookCommand {
  kind: 'hook';
  id: string;
  token: string;
  recorded: boolean;
  /** Payloads in delivery (log) order. */
  received: unknown[];
  /** When each payload was committed, in the same order. */
  receivedAt: number[];
  /** When its hook_created was committed; set once recorded. */
  createdAt?: number;
  first: Deferred;
  /** Woken whenever a payload arrives or the hook is disposed. */
  listeners: Set<() => void>;
  disposeRequested: boolean;
  disposed: boolean;
}

type Command = StepCommand | WaitCommand | HookCommand;

const describe = (command: Command) =>
  command.kind === 'step'
    ? `step "${command.name}" (${command.id})`
    : command.kind === 'wait'
      ? `sleep (${command.id})`
      : `hook "${command.token}" (${command.id})`;

/**
 * One run's workflow function, driven by its log. This is the deterministic half of the
 * engine: no I/O, no clocks, no randomness of its own.
 *
 * The invariant: the workflow observes exactly the log, in log order, one event
 * at a time, and reacts fully (every microtask drained) before the next event. `feed`
 * delivers one event and waits a macrotask so the workflow's reaction is complete;
 * `decide` then derives the writes that follow from exactly the prefix fed so far.
 */
export class WorkflowReplay {
  private readonly commands = new Map<string, Command>();
  /** Issued by the code, not yet matched by a creation event in the log, in issue order. */
  private unrecorded: Command[] = [];
  /** Recorded and unsettled, kept as sets so deciding costs the same at step 10 and step 1000. */
  private readonly openStepSet = new Set<StepCommand>();
  private readonly openWaitSet = new Set<WaitCommand>();
  private readonly disposals = new Set<HookCommand>();
  /** Hooks issued and not yet disposed in the log: each may still bring a payload. */
  private readonly liveHooks = new Set<HookCommand>();
  /**
   * Delivery ids seen per hook token. A sender that could not tell whether its delivery
   * landed may, in a narrow race, have it logged twice; the workflow takes the first only.
   * Per token, so a caller's id is matched on the hook (or its successor with the same
   * token) it was meant for, and never across unrelated hooks.
   */
  private readonly deliveriesByToken = new Map<string, Set<string>>();
  private readonly counters = new Map<string, number>();
  private readonly randomSource: () => number;
  private time = 0;
  private lastSeq = 0;
  private lastEventId: string | undefined;
  private started = false;
  private outcome:
    | { status: 'running' }
    | { status: 'completed'; output: unknown }
    | { status: 'failed'; error: unknown } = {
    status: 'running',
  };
  private terminal = false;
  /** When the run was created (its run_created's createdAt). */
  createdAt = 0;
  /** The trace context its run_created carries, opaque here: the runtime turns it into spans. */
  traceContext: JsonValue | undefined;
  /** Set for a child run: where its outcome must be recorded. */
  parent: { runId: string; stepId: string } | undefined;
  private startRecorded = false;
  private lastCreatedAt = 0;
  private divergence: ReplayDivergenceError | undefined;

  constructor(
    readonly runId: string,
    private readonly definition: WorkflowDefinition,
  ) {
    this.randomSource = seededRandom(runId);
  }

  get workflowName(): string {
    return this.definition.name;
  }

  get tail(): { seq: number; eventId: string | undefined; createdAt: number } {
    return { seq: this.lastSeq, eventId: this.lastEventId, createdAt: this.lastCreatedAt };
  }

  /**
   * After a speculatively fed event commits: adopt the id the World gave it (a World may
   * format ids its own way; the seq and createdAt were fixed by the fence and the stamp).
   */
  adoptCommitted(event: WorldEvent): void {
    if (event.seq === this.lastSeq) this.lastEventId = event.eventId;
  }

  /** The run's log holds a terminal event: nothing more will happen. */
  get isTerminal(): boolean {
    return this.terminal;
  }

  /**
   * The function has started and not returned, yet nothing the log could bring is open: no
   * step, sleep, hook or child, and no command waiting to be recorded. Whatever it awaits
   * is not a Cairn primitive, so no event will ever wake it.
   */
  get stalled(): boolean {
    if (!this.started || this.terminal || this.divergence || this.outcome.status !== 'running') return false;
    if (this.unrecorded.length > 0 || this.openStepSet.size > 0 || this.openWaitSet.size > 0) return false;
    return this.disposals.size === 0 && this.liveHooks.size === 0;
  }

  /** Set once the code and the log disagree; the replay is then unusable. */
  get divergedWith(): ReplayDivergenceError | undefined {
    return this.divergence;
  }

  now(): number {
    return this.time;
  }

  random(): number {
    return this.randomSource();
  }

  uuid(): string {
    const bytes = Array.from({ length: 16 }, () => Math.floor(this.randomSource() * 256));
    bytes[6] = (bytes[6]! & 0x0f) | 0x40;
    bytes[8] = (bytes[8]! & 0x3f) | 0x80;
    const hex = bytes.map((byte) => byte.toString(16).padStart(2, '0')).join('');
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /**
   * Correlation id for the next call of `key` in the current id scope: a counter per
   * call-site key and scope, not one global count, so one branch cannot rename another.
   */
  nextId(prefix: string, key: string): string {
    const scope = currentIdScope();
    const counterKey = `${scope}\u0000${key}`;
    const count = this.counters.get(counterKey) ?? 0;
    this.counters.set(counterKey, count + 1);
    const id = `${prefix}:${encodeURIComponent(key)}${scope === '' ? '' : `@${scope}`}#${count}`;
    if (id.length > 256) throw new Error(`Correlation id too long (${id.length} characters): ${id.slice(0, 80)}...`);
    return id;
  }

  // ---- called by workflow primitives (inside the workflow context) ----

  callStep(name: string, args: unknown[]): Promise<unknown> {
    // The deferred's parts by name rather than spread in: spreading a fresh object into a
    // literal gives it a new hidden class each time, which V8 is slow to build.
    const { promise, resolve, reject } = deferred();
    const command: StepCommand = {
      kind: 'step',
      id: this.nextId('step', name),
      name,
      input: encode(args, `step("${name}") arguments`),
      recorded: false,
      settled: false,
      retries: 0,
      retryAfter: undefined,
      placement: 'inline',
      promise,
      resolve,
      reject,
    };
    this.issue(command);
    return command.promise;
  }

  /** A child run: a step entity in this log whose outcome the child's orchestrator records. */
  startChild(workflowName: string, input: unknown): { runId: string; promise: Promise<unknown> } {
    const id = this.nextId('child', workflowName);
    const runId = childRunId(this.runId, id);
    const command: StepCommand = {
      kind: 'step',
      id,
      name: `${childStepPrefix}${workflowName}`,
      input: encode(input, `startChild("${workflowName}") input`),
      recorded: false,
      settled: false,
      retries: 0,
      retryAfter: undefined,
      placement: 'inline',
      child: { workflowName, runId },
      ...deferred(),
    };
    this.issue(command);
    return { runId, promise: command.promise };
  }

  sleepUntil(resumeAt: number): Promise<void> {
    const command: WaitCommand = {
      kind: 'wait',
      id: this.nextId('sleep', 'sleep'),
      resumeAt,
      recorded: false,
      settled: false,
      ...deferred(),
    };
    this.issue(command);
    return command.promise as Promise<void>;
  }

  createHook(token: string | undefined): HookCommand {
    const id = this.nextId('hook', 'hook');
    const command: HookCommand = {
      kind: 'hook',
      id,
      token: token ?? `${this.runId}:${id}`,
      recorded: false,
      received: [],
      receivedAt: [],
      first: deferred(),
      listeners: new Set(),
      disposeRequested: false,
      disposed: false,
    };
    this.issue(command);
    this.liveHooks.add(command);
    return command;
  }

  disposeHook(command: HookCommand): void {
    if (command.disposeRequested) return;
    command.disposeRequested = true;
    this.disposals.add(command);
  }

  private issue(command: Command): void {
    this.commands.set(command.id, command);
    this.unrecorded.push(command);
  }

  // ---- called by the orchestrator ----

  /** Delivers the next event of the log. Events must come in seq order, with no gaps. */
  async feed(event: WorldEvent): Promise<void> {
    if (this.divergence) throw this.divergence;
    if (event.seq !== this.lastSeq + 1) {
      throw new Error(`Replay of run ${this.runId} expected seq ${this.lastSeq + 1} but was fed seq ${event.seq}`);
    }
    this.lastSeq = event.seq;
    this.lastEventId = event.eventId;
    this.lastCreatedAt = event.createdAt;
    this.time = event.createdAt;
    if (this.deliver(event)) {
      // Let the workflow react completely before anything else is delivered or decided.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  /** Applies one event; true when workflow code may now run. */
  private deliver(event: WorldEvent): boolean {
    switch (event.eventType) {
      case 'run_created':
        this.createdAt = event.createdAt;
        this.traceContext = event.eventData.metadata?.[traceMetadataKey];
        if (event.eventData.parentRunId !== undefined) {
          const parentStepId = event.eventData.metadata?.parentStepId;
          this.parent = {
            runId: event.eventData.parentRunId,
            stepId: typeof parentStepId === 'string' ? parentStepId : '',
          };
        }
        this.start(decode(event.eventData.input));
        return true;
      case 'run_started':
        this.startRecorded = true;
        return false;
      case 'run_waiting':
        // A worker's note on why the run had not started: it records no decision.
        return false;
      case 'run_completed':
      case 'run_failed':
      case 'run_cancelled':
        this.terminal = true;
        return false;
      case 'step_created':
      case 'wait_created':
      case 'hook_created':
        this.match(event);
        return false;
      case 'step_completed': {
        const step = this.commands.get(event.correlationId) as StepCommand | undefined;
        if (!step) return false;
        this.settleStep(step);
        step.resolve(decode(event.eventData?.output));
        return true;
      }
      case 'step_failed': {
        const step = this.commands.get(event.correlationId) as StepCommand | undefined;
        if (!step) return false;
        this.settleStep(step);
        step.reject(
          step.child
            ? new RunFailedError({
                runId: step.child.runId,
                status: event.eventData.error.code === 'RUN_CANCELLED' ? 'cancelled' : 'failed',
                failure: event.eventData.error,
              })
            : new StepFailedError({ stepName: step.name, stepId: step.id, failure: event.eventData.error }),
        );
        return true;
      }
      case 'step_retrying': {
        const step = this.commands.get(event.correlationId) as StepCommand | undefined;
        if (step) {
          step.retries += 1;
          step.retryAfter = event.eventData.retryAfter;
        }
        return false;
      }
      case 'wait_completed': {
        const wait = this.commands.get(event.correlationId) as WaitCommand | undefined;
        if (!wait) return false;
        wait.settled = true;
        this.openWaitSet.delete(wait);
        wait.resolve(undefined);
        return true;
      }
      case 'hook_received': {
        const hook = this.commands.get(event.correlationId) as HookCommand | undefined;
        if (!hook) return false;
        const deliveryId = event.eventData?.deliveryId;
        if (deliveryId !== undefined) {
          const seen = this.deliveriesByToken.get(hook.token) ?? new Set<string>();
          if (seen.has(deliveryId)) return false;
          seen.add(deliveryId);
          this.deliveriesByToken.set(hook.token, seen);
        }
        const payload = decode(event.eventData?.payload);
        hook.received.push(payload);
        hook.receivedAt.push(event.createdAt);
        if (hook.received.length === 1) hook.first.resolve(payload);
        for (const listener of [...hook.listeners]) listener();
        return true;
      }
      case 'hook_disposed': {
        const hook = this.commands.get(event.correlationId) as HookCommand | undefined;
        if (!hook) return false;
        hook.disposed = true;
        this.disposals.delete(hook);
        this.liveHooks.delete(hook);
        for (const listener of [...hook.listeners]) listener();
        return true;
      }
      default:
        return false;
    }
  }

  private start(input: unknown): void {
    if (this.started) return;
    this.started = true;
    workflowContext.run(this, () => {
      Promise.resolve()
        .then(() => this.definition.fn(input))
        .then(
          (output) => {
            this.outcome = { status: 'completed', output };
          },
          (error: unknown) => {
            this.outcome = { status: 'failed', error };
          },
        );
    });
  }

  /** A creation event must name a command the code issued and the log has not recorded yet. */
  private match(event: WorldEvent & { correlationId: string }): void {
    const command = this.commands.get(event.correlationId);
    const kind = event.eventType === 'step_created' ? 'step' : event.eventType === 'wait_created' ? 'wait' : 'hook';
    if (!command || command.kind !== kind || command.recorded) {
      const recorded =
        event.eventType === 'step_created'
          ? `step "${event.eventData.stepName}" (${event.correlationId})`
          : `${event.eventType.replace('_created', '')} (${event.correlationId})`;
      const waiting = this.unrecorded.map(describe);
      this.divergence = new ReplayDivergenceError({
        runId: this.runId,
        recorded: `${recorded} at seq ${event.seq}`,
        requested: waiting.length > 0 ? waiting.slice(0, 3).join(', ') : 'nothing new at that point',
      });
      throw this.divergence;
    }
    command.recorded = true;
    if (command.kind === 'step' && event.eventType === 'step_created') {
      command.placement = event.eventData.placement ?? 'inline';
      this.openStepSet.add(command);
    }
    if (command.kind === 'hook') command.createdAt = event.createdAt;
    if (command.kind === 'wait' && event.eventType === 'wait_created') {
      command.resumeAt = event.eventData.resumeAt;
      command.createdAt = event.createdAt;
      this.openWaitSet.add(command);
    }
    // Creation events arrive in issue order almost always, so this is usually the head.
    const index = this.unrecorded.indexOf(command);
    this.unrecorded.splice(index, 1);
  }

  /**
   * The writes that follow from the log fed so far, to be appended under a fence on
   * `tail`: new entities the code asked for, due waits, disposals, and the run's outcome.
   * `wallClock` decides only which waits are due; it never reaches workflow code.
   */
  decide(wallClock: number): CreateEventRequest[] {
    if (this.terminal || this.divergence) return [];
    const writes: CreateEventRequest[] = this.startRecorded ? [] : [{ eventType: 'run_started' }];
    if (this.outcome.status === 'completed') {
      let output: JsonValue;
      try {
        output = encode(this.outcome.output, 'workflow result');
      } catch (error) {
        return [...writes, { eventType: 'run_failed', eventData: { error: serializeError(error) } }];
      }
      return [...writes, { eventType: 'run_completed', eventData: { output } }];
    }
    if (this.outcome.status === 'failed') {
      return [...writes, { eventType: 'run_failed', eventData: { error: serializeError(this.outcome.error) } }];
    }
    // Disposals first: a token freed and claimed again in one reaction must be free before
    // the new hook_created in the same batch claims it.
    for (const hook of this.disposals) {
      if (hook.recorded) writes.push({ eventType: 'hook_disposed', correlationId: hook.id });
    }
    for (const command of this.unrecorded) {
      if (command.kind === 'step') {
        writes.push({
          eventType: 'step_created',
          correlationId: command.id,
          eventData: { stepName: command.name, input: command.input },
        });
      } else if (command.kind === 'wait') {
        writes.push({
          eventType: 'wait_created',
          correlationId: command.id,
          eventData: { resumeAt: command.resumeAt },
        });
      } else {
        writes.push({ eventType: 'hook_created', correlationId: command.id, eventData: { token: command.token } });
      }
    }
    for (const wait of this.openWaitSet) {
      if (wait.resumeAt <= wallClock) writes.push({ eventType: 'wait_completed', correlationId: wait.id });
    }
    return writes;
  }

  /** Steps the log has created and not settled: what an executor must run. */
  openSteps(): StepCommand[] {
    return [...this.openStepSet];
  }

  /**
   * The earliest instant (World time) at which something recorded becomes due: an open
   * wait's resumeAt or an inline step's next attempt. A pass that is still running at
   * that instant acts on it itself, instead of leaving it to a timer queued behind it.
   */
  nextDueAt(): number | undefined {
    let earliest: number | undefined;
    for (const wait of this.openWaitSet)
      if (earliest === undefined || wait.resumeAt < earliest) earliest = wait.resumeAt;
    for (const step of this.openStepSet) {
      if (step.placement !== 'inline' || step.child || step.retryAfter === undefined) continue;
      if (earliest === undefined || step.retryAfter < earliest) earliest = step.retryAfter;
    }
    return earliest;
  }

  /** Waits the log has created and not completed: what needs a timer. */
  openWaits(): WaitCommand[] {
    return [...this.openWaitSet];
  }

  /** The wait or hook with this correlation id, if the code has issued one. */
  command(id: string): WaitCommand | HookCommand | StepCommand | undefined {
    return this.commands.get(id);
  }

  /** Hooks recorded in the log and not disposed by an event: a terminal event disposes them. */
  recordedLiveHooks(): HookCommand[] {
    return [...this.liveHooks].filter((hook) => hook.recorded);
  }

  /** The open step with this id, if any. */
  openStep(stepId: string): StepCommand | undefined {
    const command = this.commands.get(stepId);
    return command?.kind === 'step' && this.openStepSet.has(command) ? command : undefined;
  }

  private settleStep(step: StepCommand): void {
    step.settled = true;
    this.openStepSet.delete(step);
  }
}

/**
 * The metadata key under which a run's trace context travels; defined here, with the
 * engine's other reserved names, because child runs inherit it.
 */
export const traceMetadataKey = 'cairn.trace';

/** Step names the engine reserves for child runs; user steps may not start with `cairn:`. */
export const childStepPrefix = 'cairn:child:';

/**
 * A child's run id: derived from the parent and the call site, so every replay of the
 * parent names the same child and never starts a second one. Hashed when it would be too long.
 */
export function childRunId(parentRunId: string, commandId: string): string {
  const plain = `${parentRunId}~${commandId}`;
  if (plain.length <= 256) return plain;
  return `child_${createHash('sha256').update(plain).digest('hex')}`;
}
