import { CairnError, hasErrorMarker, markError } from '../world/errors/cairn-error.js';

const marker = Symbol.for('cairn.error.WorkflowStalled');

/**
 * The workflow function is waiting on something no event in its log can ever settle: it
 * has not returned, and it has no step, sleep, hook or child open. That happens when
 * workflow code awaits a timer, `fetch()` or other I/O directly. Such a promise lives only
 * in this process, so it would resolve at a different point on every replay, or never.
 * The run fails with this error rather than waiting in silence.
 */
export class WorkflowStalledError extends CairnError {
  override readonly code = 'WORKFLOW_STALLED';
  readonly runId: string;
  readonly workflowName: string;

  constructor(args: { runId: string; workflowName: string }) {
    super(
      `Workflow "${args.workflowName}" (run ${args.runId}) is awaiting something that is not a Cairn primitive: ` +
        'it has not returned and has no step, sleep, hook or child run open. Awaiting a timer ' +
        '(setTimeout, timers/promises), fetch() or any other I/O directly inside a workflow cannot be ' +
        'replayed. Use sleep() for delays and move I/O into a step().',
    );
    this.runId = args.runId;
    this.workflowName = args.workflowName;
    markError(this, marker);
  }

  static override is(error: unknown): error is WorkflowStalledError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), runId: this.runId, workflowName: this.workflowName };
  }
}
