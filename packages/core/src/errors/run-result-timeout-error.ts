import { CairnError, hasErrorMarker, markError } from '../world/errors/cairn-error.js';
import type { RunStatus } from '../world/schemas/entities.js';

const marker = Symbol.for('cairn.error.RunResultTimeout');

/**
 * `run.result({ timeoutMs })` gave up: the run had not ended within `timeoutMs`. The run
 * itself is untouched and goes on; `status` is what it was when the wait ended. A run
 * still `pending` has not been picked up by any worker that knows its workflow.
 */
export class RunResultTimeoutError extends CairnError {
  override readonly code = 'RUN_RESULT_TIMEOUT';
  readonly runId: string;
  readonly timeoutMs: number;
  readonly status: RunStatus;

  constructor(args: { runId: string; workflowName: string; timeoutMs: number; status: RunStatus }) {
    const hint =
      args.status === 'pending'
        ? `; it is still pending, so no worker has started it: is workflow "${args.workflowName}" registered with a running worker?`
        : `; it is still ${args.status}`;
    super(`Run ${args.runId} did not end within ${args.timeoutMs} ms${hint}`);
    this.runId = args.runId;
    this.timeoutMs = args.timeoutMs;
    this.status = args.status;
    markError(this, marker);
  }

  static override is(error: unknown): error is RunResultTimeoutError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), runId: this.runId, timeoutMs: this.timeoutMs, status: this.status };
  }
}
