import type { WorkflowReplay } from '../workflow/replay.js';
import { traceMetadataKey } from '../workflow/reserved-names.js';
import { EntityConflictError } from '../world/errors/entity-conflict-error.js';
import { isTerminalRunStatus, type Run } from '../world/schemas/entities.js';
import type { World } from '../world/world.js';
import { cancelOpenChildren, closeRunStreams } from './cancel.js';
import type { Recorder } from './recorder.js';
import type { StepOutcome } from './step-executor.js';
import { wakeRequest } from './topics.js';

/**
 * Child runs. A child is a step entity in its parent's log; its run is created with a
 * deterministic id, and its wake goes in the same append as its run_created, so a crash
 * can never leave a child that exists but was never woken. When a child ends, its outcome
 * is recorded in the parent's log as a fact, again with the parent's wake in the outbox.
 */
export class Children {
  /** Child runs this worker has created or seen running, so a parent pass does not re-check them all. */
  private readonly ensured = new Set<string>();

  constructor(
    private readonly world: World,
    private readonly recorder: Recorder,
    private readonly runLease: boolean,
  ) {}

  /**
   * Makes sure every open child exists and is awake. A child found already ended (its
   * report to us was lost in a crash) is reported now; resolves true when that happened,
   * since the log then moved.
   */
  async start(replay: WorkflowReplay): Promise<boolean> {
    let reported = false;
    for (const step of replay.openSteps()) {
      if (!step.child || this.ensured.has(step.child.runId)) continue;
      try {
        await this.world.events.create(
          step.child.runId,
          {
            eventType: 'run_created',
            eventData: {
              workflowName: step.child.workflowName,
              input: step.input,
              parentRunId: replay.runId,
              metadata: {
                parentStepId: step.id,
                ...(replay.traceContext === undefined ? {} : { [traceMetadataKey]: replay.traceContext }),
              },
            },
          },
          { enqueue: [wakeRequest(step.child.runId, this.runLease)] },
        );
      } catch (error) {
        if (!EntityConflictError.is(error)) throw error;
        const child = await this.world.runs.get(step.child.runId);
        if (isTerminalRunStatus(child.status)) {
          await this.report(child);
          reported = true;
          continue;
        }
        // It exists and is running. Its own wake should be queued, but a wake costs little
        // and a run with none would wait forever, so send one anyway.
        await this.world.queue.send(...sendArguments(wakeRequest(child.runId, this.runLease)));
      }
      this.remember(step.child.runId);
    }
    return reported;
  }

  /**
   * A run ended: if it was cancelled, cancel its open children; close its streams; and if it
   * is a child, tell the parent. The append that ended the run left its wake unsettled when
   * there is work here (`HeldClaims`), so a worker that dies before this is done leaves it
   * to the next pass. A cancel is appended with the run's wake (`cancelRunTree`), so the
   * children of a run whose canceller died are cancelled by the pass that wake starts.
   */
  async finish(replay: WorkflowReplay): Promise<void> {
    if (replay.isCancelled) await cancelOpenChildren(this.world, replay.runId, this.runLease);
    await closeRunStreams(this.world, replay.runId);
    if (!replay.parent) return;
    await this.report(await this.world.runs.get(replay.runId));
  }

  /** Records a child's outcome in its parent's log (a fact: exactly once) with the parent's wake. */
  private async report(child: Run): Promise<void> {
    const parentStepId = child.metadata?.parentStepId;
    if (child.parentRunId === undefined || typeof parentStepId !== 'string') return;
    const wake = wakeRequest(child.parentRunId, this.runLease);
    const written = await this.recorder.facts.writeFact(child.parentRunId, childOutcome(child, parentStepId), [wake]);
    // Refused: recorded already, or the parent has ended. An ended parent is not woken: a
    // cancelled parent of many children would be walked again for each of them.
    if (written === undefined) await this.recorder.facts.wakeUnlessEnded(child.parentRunId, wake);
  }

  private remember(runId: string): void {
    this.ensured.add(runId);
    // Only an optimisation (it saves a read per open child per pass), so bounded crudely.
    if (this.ensured.size > 100_000) this.ensured.clear();
  }
}

function childOutcome(child: Run, parentStepId: string): StepOutcome {
  if (child.status === 'completed') {
    return {
      eventType: 'step_completed',
      correlationId: parentStepId,
      eventData: child.output === undefined ? {} : { output: child.output },
    };
  }
  const error =
    child.status === 'cancelled'
      ? {
          name: 'RunCancelled',
          message: child.cancelReason ?? `child run ${child.runId} was cancelled`,
          code: 'RUN_CANCELLED',
        }
      : (child.error ?? { name: 'Error', message: `child run ${child.runId} failed` });
  return { eventType: 'step_failed', correlationId: parentStepId, eventData: { error } };
}

export function sendArguments(request: ReturnType<typeof wakeRequest>) {
  return [request.topic, request.payload, request.options] as const;
}
