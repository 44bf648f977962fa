import { CairnError, hasErrorMarker, markError } from './cairn-error.js';

const marker = Symbol.for('cairn.error.WorldUnavailable');

/**
 * The World's backing store cannot be reached or opened right now: a database that does not
 * answer, a directory another process holds. Retryable: the same call may work once the
 * store is back.
 */
export class WorldUnavailableError extends CairnError {
  override readonly code = 'WORLD_UNAVAILABLE';
  override readonly retryable = true;
  readonly world: string;
  /** Where the World tried to reach: a host, a directory. */
  readonly location: string;

  constructor(args: { world: string; location: string; reason: string; cause?: unknown }) {
    super(`World ${args.world} is unavailable at ${args.location}: ${args.reason}`, { cause: args.cause });
    this.world = args.world;
    this.location = args.location;
    markError(this, marker);
  }

  static override is(error: unknown): error is WorldUnavailableError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), world: this.world, location: this.location };
  }
}
