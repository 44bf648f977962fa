import { CairnError } from '@cairn/core/world';

const marker = Symbol.for('cairn.error.PayloadTooLarge');

/** A request body over the server's limit (HTTP 413). The body was not read further; nothing was written. */
export class PayloadTooLargeError extends CairnError {
  override readonly code = 'PAYLOAD_TOO_LARGE';
  readonly limitBytes: number;

  constructor(args: { limitBytes: number }) {
    super(`The request body is larger than the server's limit of ${args.limitBytes} bytes`);
    this.limitBytes = args.limitBytes;
    Object.defineProperty(this, marker, { value: true, enumerable: false });
  }

  static override is(error: unknown): error is PayloadTooLargeError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }

  override toJSON() {
    return { ...super.toJSON(), limitBytes: this.limitBytes };
  }
}
