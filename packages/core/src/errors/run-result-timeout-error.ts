import { CairnError, hasErrorMarker, markError } from '../world/errors/cairn-error.js';
import type { RunStatus, RunWaiting } from '../world/schemas/entities.js';

const marker = Symbol.for('cairn.error.RunResultTimeout');

/**
 * `run.result({ timeoutMs })` gave up: the run had not ended within `timeoutMs`. The run
 * itself is untouched and goes on; `status` is what it was when the wait ended. A run
 * still `pending` has not been picked up by any worker that knows its workflow; `waiting`
 * is the run's own account of why, when a worker left one (see `Run.waiting`).
 */
export class RunResultTimeoutError extends CairnError {
  override readonly code = 'RUN_RESULT_TIMEOUT';
  readonly runId: string;
  readonly timeoutMs: number;
  readonly status: RunStatus;
  readonly waiting: RunWaiting | undefined;

  constructor(args: {
    runId: string;
    workflowName: string;
    timeoutMs: number;
    status: RunStatus;
    waiting?: RunWaiting;
  }) {
    const hint =
      args.status !== 'pending'
        ? `; it is still ${args.status}`
        : args.waiting
          ? `; it is still pending: ${args.waiting.message}`
          : `; it is still pending, so no worker has started it: is workflow "${args.workflowName}" registered with a running worker?`;
    super(`Run ${args.runId} did not end within ${args.timeoutMs} ms${hint}`);
    this.runId = args.runId;
    this.timeoutMs = args.timeoutMs;
    this.status = args.status;
    this.waiting = args.waiting;
    markError(this, marker);
  }

  static override is(error: unknown): error is RunResultTimeoutError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return {
      ...super.toJSON(),
      runId: this.runId,
      timeoutMs: this.timeoutMs,
      status: this.status,
      ...(this.waiting === undefined ? {} : { waiting: this.waiting }),
    };
  }
}
