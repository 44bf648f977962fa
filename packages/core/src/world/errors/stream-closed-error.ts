import { CairnError, hasErrorMarker, markError } from './cairn-error.js';

const marker = Symbol.for('cairn.error.StreamClosed');

/** A write to a stream that was already closed. The chunk was not written. */
export class StreamClosedError extends CairnError {
  override readonly code = 'STREAM_CLOSED';
  readonly runId: string;
  readonly stream: string;

  constructor(args: { runId: string; stream: string }) {
    super(`Stream ${JSON.stringify(args.stream)} of run ${args.runId} is closed`);
    this.runId = args.runId;
    this.stream = args.stream;
    markError(this, marker);
  }

  static override is(error: unknown): error is StreamClosedError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), runId: this.runId, stream: this.stream };
  }
}
