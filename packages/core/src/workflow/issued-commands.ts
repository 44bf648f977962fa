import { ReplayDivergenceError } from '../errors/replay-divergence-error.js';
import type { CreateEventRequest, WorldEvent } from '../world/schemas/events.js';
import { type Command, describeCommand, type HookCommand, type StepCommand, type WaitCommand } from './commands.js';

/**
 * The commands one run's workflow code has issued, by where the log has them: issued and
 * not recorded yet, recorded and open, settled. The replay moves them between those states
 * as events arrive; deciding reads them. Open commands are kept in sets, so deciding costs
 * the same at step 10 and step 1,000.
 */
export class IssuedCommands {
  private readonly byId = new Map<string, Command>();
  /** Issued by the code, not yet matched by a creation event in the log, in issue order. */
  private readonly unrecorded: Command[] = [];
  /** Recorded and unsettled. */
  private readonly openStepSet = new Set<StepCommand>();
  private readonly openWaitSet = new Set<WaitCommand>();
  /** Hooks the code disposed whose hook_disposed is not in the log yet. */
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

  constructor(private readonly runId: string) {}

  issue(command: Command): void {
    this.byId.set(command.id, command);
    this.unrecorded.push(command);
    if (command.kind === 'hook') this.liveHooks.add(command);
  }

  requestDisposal(hook: HookCommand): void {
    if (hook.disposeRequested) return;
    hook.disposeRequested = true;
    this.disposals.add(hook);
  }

  /** The wait, hook or step with this correlation id, if the code has issued one. */
  get(id: string): Command | undefined {
    return this.byId.get(id);
  }

  /**
   * A creation event must name a command the code issued and the log has not recorded yet.
   * Returns the divergence when it does not (the caller keeps and throws it).
   */
  record(event: WorldEvent & { correlationId: string }): ReplayDivergenceError | undefined {
    const command = this.byId.get(event.correlationId);
    const kind = event.eventType === 'step_created' ? 'step' : event.eventType === 'wait_created' ? 'wait' : 'hook';
    if (!command || command.kind !== kind || command.recorded) {
      const recorded =
        event.eventType === 'step_created'
          ? `step "${event.eventData.stepName}" (${event.correlationId})`
          : `${event.eventType.replace('_created', '')} (${event.correlationId})`;
      const waiting = this.unrecorded.map(describeCommand);
      return new ReplayDivergenceError({
        runId: this.runId,
        recorded: `${recorded} at seq ${event.seq}`,
        requested: waiting.length > 0 ? waiting.slice(0, 3).join(', ') : 'nothing new at that point',
      });
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
    return undefined;
  }

  settleStep(step: StepCommand): void {
    step.settled = true;
    this.openStepSet.delete(step);
  }

  settleWait(wait: WaitCommand): void {
    wait.settled = true;
    this.openWaitSet.delete(wait);
  }

  disposed(hook: HookCommand): void {
    hook.disposed = true;
    this.disposals.delete(hook);
    this.liveHooks.delete(hook);
  }

  /** False for a repeat of a delivery id that `hook`'s token already took: the workflow ignores it. */
  firstArrival(hook: HookCommand, deliveryId: string | undefined): boolean {
    if (deliveryId === undefined) return true;
    const seen = this.deliveriesByToken.get(hook.token) ?? new Set<string>();
    if (seen.has(deliveryId)) return false;
    seen.add(deliveryId);
    this.deliveriesByToken.set(hook.token, seen);
    return true;
  }

  /** Nothing is open or waiting to be recorded: no event the log could bring would wake the code. */
  get nothingOpen(): boolean {
    if (this.unrecorded.length > 0 || this.openStepSet.size > 0 || this.openWaitSet.size > 0) return false;
    return this.disposals.size === 0 && this.liveHooks.size === 0;
  }

  /**
   * Appends to `writes` what the commands call for: disposals first (a token freed and
   * claimed again in one reaction must be free before the new hook_created in the same
   * batch claims it), then the creations in issue order, then the waits due by `wallClock`.
   */
  addWrites(writes: CreateEventRequest[], wallClock: number): void {
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
  }

  /** Steps the log has created and not settled: what an executor must run. */
  openSteps(): StepCommand[] {
    return [...this.openStepSet];
  }

  /** The open step with this id, if any. */
  openStep(stepId: string): StepCommand | undefined {
    const command = this.byId.get(stepId);
    return command?.kind === 'step' && this.openStepSet.has(command) ? command : undefined;
  }

  /** Waits the log has created and not completed: what needs a timer. */
  openWaits(): WaitCommand[] {
    return [...this.openWaitSet];
  }

  /** See `WorkflowReplay.nextDueAt`. */
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

  /** Hooks recorded in the log and not disposed by an event: a terminal event disposes them. */
  recordedLiveHooks(): HookCommand[] {
    return [...this.liveHooks].filter((hook) => hook.recorded);
  }
}
