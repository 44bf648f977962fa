import { CairnError, hasErrorMarker, markError } from '../world/errors/cairn-error.js';

const marker = Symbol.for('cairn.error.Nondeterminism');

/**
 * Workflow code called an API whose answer would differ between the first execution and
 * a replay, and which Cairn cannot replay (a monotonic clock, for instance). Thrown inside
 * the workflow, so the run fails with it unless the workflow catches it. Move the call into
 * a step, or use the replayed alternative the message names.
 */
export class NondeterminismError extends CairnError {
  override readonly code = 'NONDETERMINISTIC_API';
  /** The refused API, e.g. `performance.now()`. */
  readonly api: string;
  /** What to use instead. */
  readonly instead: string;

  constructor(args: { api: string; instead: string }) {
    super(`${args.api} is not deterministic inside a workflow and cannot be replayed; ${args.instead}`);
    this.api = args.api;
    this.instead = args.instead;
    markError(this, marker);
  }

  static override is(error: unknown): error is NondeterminismError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), api: this.api, instead: this.instead };
  }
}
