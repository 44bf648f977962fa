import { CairnError, hasErrorMarker, markError } from './cairn-error.js';

const marker = Symbol.for('cairn.error.WorldClosed');

/** The World was closed (or failed and shut itself) before or during this call. */
export class WorldClosedError extends CairnError {
  override readonly code = 'WORLD_CLOSED';
  readonly world: string;

  constructor(args: { world: string; cause?: unknown }) {
    super(`World ${args.world} is closed`, { cause: args.cause });
    this.world = args.world;
    markError(this, marker);
  }

  static override is(error: unknown): error is WorldClosedError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), world: this.world };
  }
}
