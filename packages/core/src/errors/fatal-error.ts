import { CairnError, hasErrorMarker, markError } from '../world/errors/cairn-error.js';

const marker = Symbol.for('cairn.error.Fatal');

/** Thrown from a step (or workflow) to stop retrying at once: the failure is final. */
export class FatalError extends CairnError {
  override readonly code = 'FATAL';

  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
    markError(this, marker);
  }

  static override is(error: unknown): error is FatalError {
    return hasErrorMarker(error, marker) || (error instanceof Error && error.name === 'FatalError');
  }
}
