import { CairnError, hasErrorMarker, markError } from './cairn-error.js';

const marker = Symbol.for('cairn.error.WorldCorrupted');

/**
 * Stored data failed its integrity check somewhere a crash cannot explain (not a torn
 * tail). The World refuses to open rather than guess, so nothing committed is silently lost.
 */
export class WorldCorruptedError extends CairnError {
  override readonly code = 'WORLD_CORRUPTED';
  readonly location: string;

  constructor(args: { location: string; detail: string }) {
    super(`Stored data is corrupted at ${args.location}: ${args.detail}`);
    this.location = args.location;
    markError(this, marker);
  }

  static override is(error: unknown): error is WorldCorruptedError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), location: this.location };
  }
}
