import { CairnError, hasErrorMarker, markError } from '../world/errors/cairn-error.js';
import type { SerializedError } from '../world/schemas/primitives.js';

const marker = Symbol.for('cairn.error.StepFailed');

/**
 * What a workflow's `await step(...)` rejects with once the step has failed for good. It
 * is rebuilt from the log on every replay, so it carries the recorded failure, not the
 * original object: `failure.name`, `failure.message`, `failure.code`.
 */
export class StepFailedError extends CairnError {
  override readonly code = 'STEP_FAILED';
  readonly stepName: string;
  readonly stepId: string;
  readonly failure: SerializedError;

  constructor(args: { stepName: string; stepId: string; failure: SerializedError }) {
    super(`Step "${args.stepName}" failed: ${args.failure.name}: ${args.failure.message}`);
    this.stepName = args.stepName;
    this.stepId = args.stepId;
    this.failure = args.failure;
    markError(this, marker);
  }

  static override is(error: unknown): error is StepFailedError {
    return hasErrorMarker(error, marker);
  }
}
