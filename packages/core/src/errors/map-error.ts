import { CairnError, hasErrorMarker, markError } from '../world/errors/cairn-error.js';

const marker = Symbol.for('cairn.error.Map');

/**
 * A `map` without `continueOnError` stopped at its first failure. No further items were
 * started. Carries what had completed: `results` by item index (holes where an item had
 * not finished), and `completedPrefix`, the results of the longest run of completed items
 * from the first, which a caller can keep and resume after.
 */
export class MapError<Result = unknown> extends CairnError {
  override readonly code = 'MAP_FAILED';
  readonly failedIndex: number;
  readonly results: (Result | undefined)[];
  readonly completedPrefix: Result[];

  constructor(args: {
    failedIndex: number;
    cause: unknown;
    results: (Result | undefined)[];
    completedPrefix: Result[];
  }) {
    const reason = args.cause instanceof Error ? args.cause.message : String(args.cause);
    super(`map stopped at item ${args.failedIndex}: ${reason}`, { cause: args.cause });
    this.failedIndex = args.failedIndex;
    this.results = args.results;
    this.completedPrefix = args.completedPrefix;
    markError(this, marker);
  }

  static override is(error: unknown): error is MapError {
    return hasErrorMarker(error, marker);
  }
}
