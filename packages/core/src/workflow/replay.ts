import type { ReplayDivergenceError } from '../errors/replay-divergence-error.js';
import type { CreateEventRequest, WorldEvent } from '../world/schemas/events.js';
import type { JsonValue } from '../world/schemas/primitives.js';
import {
  type HookCommand,
  hookCommand,
  type StepCommand,
  stepCommand,
  type WaitCommand,
  waitCommand,
} from './commands.js';
import { currentIdScope, runWorkflowCode } from './context.js';
import type { WorkflowDefinition } from './definitions.js';
import { seededRandom, seededUuid } from './determinism.js';
import { IssuedCommands } from './issued-commands.js';
import { childRunId, childStepPrefix, traceMetadataKey } from './reserved-names.js';
import { decode, encode, serializeError } from './serialization.js';
import { settleCommand } from './settle-command.js';

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
  private readonly commands: IssuedCommands;
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
  /** The log ends with run_cancelled: someone cancelled the run. */
  private cancelledByLog = false;
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
    this.commands = new IssuedCommands(runId);
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

  /** The terminal event was run_cancelled. */
  get isCancelled(): boolean {
    return this.cancelledByLog;
  }

  /**
   * The function has started and not returned, yet nothing the log could bring is open: no
   * step, sleep, hook or child, and no command waiting to be recorded. Whatever it awaits
   * is not a Cairn primitive, so no event will ever wake it.
   */
  get stalled(): boolean {
    if (!this.started || this.terminal || this.divergence || this.outcome.status !== 'running') return false;
    return this.commands.nothingOpen;
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
    return seededUuid(this.randomSource);
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
    const command = stepCommand(this.nextId('step', name), name, encode(args, `step("${name}") arguments`));
    this.commands.issue(command);
    return command.promise;
  }

  /** A child run: a step entity in this log whose outcome the child's orchestrator records. */
  startChild(workflowName: string, input: unknown): { runId: string; promise: Promise<unknown> } {
    const id = this.nextId('child', workflowName);
    const runId = childRunId(this.runId, id);
    const command = stepCommand(
      id,
      `${childStepPrefix}${workflowName}`,
      encode(input, `startChild("${workflowName}") input`),
      {
        workflowName,
        runId,
      },
    );
    this.commands.issue(command);
    return { runId, promise: command.promise };
  }

  sleepUntil(resumeAt: number): Promise<void> {
    const command = waitCommand(this.nextId('sleep', 'sleep'), resumeAt);
    this.commands.issue(command);
    return command.promise as Promise<void>;
  }

  createHook(token: string | undefined): HookCommand {
    const id = this.nextId('hook', 'hook');
    const command = hookCommand(id, token ?? `${this.runId}:${id}`);
    this.commands.issue(command);
    return command;
  }

  disposeHook(command: HookCommand): void {
    this.commands.requestDisposal(command);
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
        this.cancelledByLog = event.eventType === 'run_cancelled';
        return false;
      case 'step_created':
      case 'wait_created':
      case 'hook_created':
        this.divergence = this.commands.record(event);
        if (this.divergence) throw this.divergence;
        return false;
      default:
        return settleCommand(this.commands, event);
    }
  }

  private start(input: unknown): void {
    if (this.started) return;
    this.started = true;
    runWorkflowCode(this, () => {
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
    this.commands.addWrites(writes, wallClock);
    return writes;
  }

  /** Steps the log has created and not settled: what an executor must run. */
  openSteps(): StepCommand[] {
    return this.commands.openSteps();
  }

  /**
   * The earliest instant (World time) at which something recorded becomes due: an open
   * wait's resumeAt or an inline step's next attempt. A pass that is still running at
   * that instant acts on it itself, instead of leaving it to a timer queued behind it.
   */
  nextDueAt(): number | undefined {
    return this.commands.nextDueAt();
  }

  /** Waits the log has created and not completed: what needs a timer. */
  openWaits(): WaitCommand[] {
    return this.commands.openWaits();
  }

  /** The wait, hook or step with this correlation id, if the code has issued one. */
  command(id: string): WaitCommand | HookCommand | StepCommand | undefined {
    return this.commands.get(id);
  }

  /** Hooks recorded in the log and not disposed by an event: a terminal event disposes them. */
  recordedLiveHooks(): HookCommand[] {
    return this.commands.recordedLiveHooks();
  }

  /** The open step with this id, if any. */
  openStep(stepId: string): StepCommand | undefined {
    return this.commands.openStep(stepId);
  }
}
