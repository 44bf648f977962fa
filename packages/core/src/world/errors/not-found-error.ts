import { CairnError, hasErrorMarker, markError } from './cairn-error.js';

const marker = Symbol.for('cairn.error.NotFound');

/** The parent of every "no such thing" error, for callers that treat them alike. */
export class NotFoundError extends CairnError {
  override readonly code: string = 'NOT_FOUND';
  /** What was looked up, by the keys the caller gave. */
  readonly lookup: Readonly<Record<string, string>>;

  constructor(message: string, lookup: Record<string, string>) {
    super(message);
    this.lookup = lookup;
    markError(this, marker);
  }

  static override is(error: unknown): error is NotFoundError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), lookup: this.lookup };
  }
}
