import { hasErrorMarker, markError } from './cairn-error.js';
import { NotFoundError } from './not-found-error.js';

const marker = Symbol.for('cairn.error.EventNotFound');

/** The run's log has no event with this id. */
export class EventNotFoundError extends NotFoundError {
  override readonly code = 'EVENT_NOT_FOUND';

  constructor(args: { runId: string; eventId: string }) {
    super(`Event ${args.eventId} not found on run ${args.runId}`, args);
    markError(this, marker);
  }

  static override is(error: unknown): error is EventNotFoundError {
    return hasErrorMarker(error, marker);
  }
}
