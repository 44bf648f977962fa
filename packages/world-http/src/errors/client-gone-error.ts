const marker = Symbol.for('cairn.error.HttpClientGone');

/**
 * The client hung up before its request arrived whole. Nobody is left to answer, and it is
 * no fault of the server's, so the server neither answers nor logs it. Never sent on the wire.
 */
export class ClientGoneError extends Error {
  constructor(options?: { cause?: unknown }) {
    super('The client went away before its request body arrived', options);
    this.name = 'ClientGoneError';
    Object.defineProperty(this, marker, { value: true, enumerable: false });
  }

  static is(error: unknown): error is ClientGoneError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}
