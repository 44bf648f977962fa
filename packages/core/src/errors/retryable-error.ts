import { parseDuration } from '../workflow/duration.js';
import { CairnError, hasErrorMarker, markError } from '../world/errors/cairn-error.js';

const marker = Symbol.for('cairn.error.Retryable');

/**
 * Thrown from a step to ask for another attempt after a specific delay (a rate limit's
 * Retry-After, say) instead of the step's backoff. Still bounded by `maxRetries`.
 */
export class RetryableError extends CairnError {
  override readonly code = 'RETRYABLE';
  override readonly retryable = true;
  /** Milliseconds to wait before the next attempt. */
  readonly retryAfterMs: number;

  constructor(message: string, options: { retryAfter?: number | string | Date; cause?: unknown } = {}) {
    super(message, options);
    const { retryAfter = 1000 } = options;
    this.retryAfterMs =
      retryAfter instanceof Date
        ? Math.max(0, retryAfter.getTime() - Date.now())
        : parseDuration(retryAfter, 'retryAfter');
    markError(this, marker);
  }

  static override is(error: unknown): error is RetryableError {
    return hasErrorMarker(error, marker);
  }
}
