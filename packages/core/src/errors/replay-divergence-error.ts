import { CairnError, hasErrorMarker, markError } from '../world/errors/cairn-error.js';

const marker = Symbol.for('cairn.error.ReplayDivergence');

/**
 * The workflow code no longer matches its log: at this point the log recorded one thing
 * and the replay asked for another (usually a deploy changed the workflow while runs were
 * in flight). The run is not touched; fix the code or version the workflow.
 */
export class ReplayDivergenceError extends CairnError {
  override readonly code = 'REPLAY_DIVERGENCE';
  readonly runId: string;
  /** What the log recorded, e.g. `step "charge" (step:charge#0) at seq 4`. */
  readonly recorded: string;
  /** What the replay asked for instead. */
  readonly requested: string;

  constructor(args: { runId: string; recorded: string; requested: string }) {
    super(
      `Replay of run ${args.runId} diverged from its log: the log recorded ${args.recorded}, but the workflow asked for ${args.requested}`,
    );
    this.runId = args.runId;
    this.recorded = args.recorded;
    this.requested = args.requested;
    markError(this, marker);
  }

  static override is(error: unknown): error is ReplayDivergenceError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), runId: this.runId, recorded: this.recorded, requested: this.requested };
  }
}
