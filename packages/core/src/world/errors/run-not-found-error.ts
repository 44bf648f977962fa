import { hasErrorMarker, markError } from './cairn-error.js';
import { NotFoundError } from './not-found-error.js';

const marker = Symbol.for('cairn.error.RunNotFound');

/** No run has this id. */
export class RunNotFoundError extends NotFoundError {
  override readonly code = 'RUN_NOT_FOUND';
  readonly runId: string;

  constructor(args: { runId: string }) {
    super(`Run ${args.runId} not found`, { runId: args.runId });
    this.runId = args.runId;
    markError(this, marker);
  }

  static override is(error: unknown): error is RunNotFoundError {
    return hasErrorMarker(error, marker);
  }
}
