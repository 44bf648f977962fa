import { CairnError } from '@cairn/core/world';

const marker = Symbol.for('cairn.error.Unauthorized');

/** The request carried no bearer token, or one the server does not accept (HTTP 401). */
export class UnauthorizedError extends CairnError {
  override readonly code = 'UNAUTHORIZED';

  constructor(message = 'A valid bearer token is required') {
    super(message);
    Object.defineProperty(this, marker, { value: true, enumerable: false });
  }

  static override is(error: unknown): error is UnauthorizedError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}
