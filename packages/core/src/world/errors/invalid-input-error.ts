import { CairnError, describeValue, hasErrorMarker, markError } from './cairn-error.js';

const marker = Symbol.for('cairn.error.InvalidInput');

/** Input that breaks the contract's schema. Nothing was written. Never retryable as-is. */
export class InvalidInputError extends CairnError {
  override readonly code = 'INVALID_INPUT';
  /** Dotted path of the offending field, e.g. `request.eventData.token`. */
  readonly field: string;
  readonly value: unknown;
  readonly reason: string;

  constructor(args: { field: string; value: unknown; reason: string; cause?: unknown }) {
    super(`Invalid ${args.field}: ${args.reason} (got ${describeValue(args.value)})`, { cause: args.cause });
    this.field = args.field;
    this.value = args.value;
    this.reason = args.reason;
    markError(this, marker);
  }

  static override is(error: unknown): error is InvalidInputError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), field: this.field, reason: this.reason, value: describeValue(this.value) };
  }
}
