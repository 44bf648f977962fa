import { CairnError, hasErrorMarker, markError } from '../world/errors/cairn-error.js';
import type { SerializedError } from '../world/schemas/primitives.js';

const marker = Symbol.for('cairn.error.RunFailed');

/** `run.result()` of a run that failed or was cancelled. `failure` is what the run recorded. */
export class RunFailedError extends CairnError {
  override readonly code = 'RUN_FAILED';
  readonly runId: string;
  readonly status: 'failed' | 'cancelled';
  readonly failure: SerializedError | undefined;

  constructor(args: { runId: string; status: 'failed' | 'cancelled'; failure?: SerializedError }) {
    super(
      args.status === 'cancelled'
        ? `Run ${args.runId} was cancelled${args.failure ? `: ${args.failure.message}` : ''}`
        : `Run ${args.runId} failed: ${args.failure?.name ?? 'Error'}: ${args.failure?.message ?? 'unknown error'}`,
    );
    this.runId = args.runId;
    this.status = args.status;
    this.failure = args.failure;
    markError(this, marker);
  }

  static override is(error: unknown): error is RunFailedError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), runId: this.runId, status: this.status, failure: this.failure };
  }
}
