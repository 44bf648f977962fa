import { hasErrorMarker, markError } from './cairn-error.js';
import { NotFoundError } from './not-found-error.js';

const marker = Symbol.for('cairn.error.WaitNotFound');

/** The run has no wait with this correlation id. */
export class WaitNotFoundError extends NotFoundError {
  override readonly code = 'WAIT_NOT_FOUND';

  constructor(args: { runId: string; waitId: string }) {
    super(`Wait ${args.waitId} not found on run ${args.runId}`, args);
    markError(this, marker);
  }

  static override is(error: unknown): error is WaitNotFoundError {
    return hasErrorMarker(error, marker);
  }
}
