import { CairnError, hasErrorMarker, markError } from './cairn-error.js';

const marker = Symbol.for('cairn.error.DuplicateDelivery');

/**
 * The run already holds a `hook_received` with this `deliveryId` (on `hookId`): a delivery
 * id is unique within its run. Nothing was written. Thrown only by a World whose
 * `capabilities.uniqueDeliveryIds` is true. A delivery that retries after an outage reads
 * it as "the earlier attempt landed".
 */
export class DuplicateDeliveryError extends CairnError {
  override readonly code = 'DUPLICATE_DELIVERY';
  readonly runId: string;
  readonly deliveryId: string;
  /** The hook that received the earlier delivery with this id. */
  readonly hookId: string;

  constructor(args: { runId: string; deliveryId: string; hookId: string }) {
    super(
      `Run ${args.runId} already holds delivery ${JSON.stringify(args.deliveryId)} (received by hook ${args.hookId})`,
    );
    this.runId = args.runId;
    this.deliveryId = args.deliveryId;
    this.hookId = args.hookId;
    markError(this, marker);
  }

  static override is(error: unknown): error is DuplicateDeliveryError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), runId: this.runId, deliveryId: this.deliveryId, hookId: this.hookId };
  }
}
