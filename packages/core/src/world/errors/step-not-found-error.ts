import { hasErrorMarker, markError } from './cairn-error.js';
import { NotFoundError } from './not-found-error.js';

const marker = Symbol.for('cairn.error.StepNotFound');

/** The run has no step with this correlation id. */
export class StepNotFoundError extends NotFoundError {
  override readonly code = 'STEP_NOT_FOUND';

  constructor(args: { runId: string; stepId: string }) {
    super(`Step ${args.stepId} not found on run ${args.runId}`, args);
    markError(this, marker);
  }

  static override is(error: unknown): error is StepNotFoundError {
    return hasErrorMarker(error, marker);
  }
}
