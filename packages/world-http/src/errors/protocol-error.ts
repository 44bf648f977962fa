import { CairnError } from '@cairn/core/world';

const marker = Symbol.for('cairn.error.HttpProtocol');

/** Why the server could not take a request before it reached the World. */
export type ProtocolErrorCode =
  | 'ROUTE_NOT_FOUND'
  | 'METHOD_NOT_ALLOWED'
  | 'REQUEST_TIMEOUT'
  | 'SESSION_NOT_FOUND'
  | 'INTERNAL_ERROR';

const statusOfCode: Record<ProtocolErrorCode, number> = {
  ROUTE_NOT_FOUND: 404,
  METHOD_NOT_ALLOWED: 405,
  REQUEST_TIMEOUT: 408,
  SESSION_NOT_FOUND: 404,
  INTERNAL_ERROR: 500,
};

/**
 * A request the HTTP layer refused on its own: an unknown path or method, a body that did
 * not arrive in time, a queue session the server no longer holds, or a fault inside the
 * server (whose details stay in the server's log). Nothing was written.
 */
export class ProtocolError extends CairnError {
  override readonly code: ProtocolErrorCode;
  readonly status: number;

  constructor(args: { code: ProtocolErrorCode; message: string }) {
    super(args.message);
    this.code = args.code;
    this.status = statusOfCode[args.code];
    Object.defineProperty(this, marker, { value: true, enumerable: false });
  }

  static override is(error: unknown): error is ProtocolError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }

  static isCode(code: string): code is ProtocolErrorCode {
    return Object.hasOwn(statusOfCode, code);
  }
}
