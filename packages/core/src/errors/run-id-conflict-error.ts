import { CairnError, hasErrorMarker, markError } from '../world/errors/cairn-error.js';

const marker = Symbol.for('cairn.error.RunIdConflict');

/**
 * `client.start` with `onConflict: 'error-on-different-input'` found a run with the
 * requested id whose input differs from the one given. Nothing was started; the existing
 * run is untouched.
 */
export class RunIdConflictError extends CairnError {
  override readonly code = 'RUN_ID_CONFLICT';
  readonly runId: string;
  readonly workflowName: string;

  constructor(args: { runId: string; workflowName: string }) {
    super(
      `Run ${args.runId} of workflow "${args.workflowName}" already exists with a different input; ` +
        'choose another id, or start with the same input to get the existing run back',
    );
    this.runId = args.runId;
    this.workflowName = args.workflowName;
    markError(this, marker);
  }

  static override is(error: unknown): error is RunIdConflictError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), runId: this.runId, workflowName: this.workflowName };
  }
}
