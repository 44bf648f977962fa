import { hasErrorMarker, markError } from './cairn-error.js';
import { EntityConflictError } from './entity-conflict-error.js';

const marker = Symbol.for('cairn.error.FenceConflict');

/** The run's tail when a fenced append was refused. */
export interface EventPosition {
  eventId: string;
  seq: number;
}

/**
 * A fenced append lost: the run's tail is no longer the one the writer derived its events
 * from. Nothing was written. The writer must re-read the log and re-derive what it wanted
 * to write, never re-post the same events; hence `retryable` (after re-deriving).
 */
export class FenceConflictError extends EntityConflictError {
  override readonly code = 'FENCE_CONFLICT';
  override readonly retryable = true;
  /** The tail the writer claimed (`lastKnownEventId`, or the one `asOfTimestamp` resolved to). */
  readonly expectedEventId: string | null;
  readonly currentTail: EventPosition;

  constructor(args: { runId: string; expectedEventId: string | null; currentTail: EventPosition; reason?: string }) {
    super({
      runId: args.runId,
      entity: 'run',
      message: args.reason
        ? `Fence conflict on run ${args.runId}: ${args.reason}`
        : `Fence conflict on run ${args.runId}: writer expected tail ${args.expectedEventId ?? '(none)'} but the tail is ${args.currentTail.eventId} (seq ${args.currentTail.seq})`,
    });
    this.expectedEventId = args.expectedEventId;
    this.currentTail = args.currentTail;
    markError(this, marker);
  }

  static override is(error: unknown): error is FenceConflictError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), expectedEventId: this.expectedEventId, currentTail: this.currentTail };
  }
}
