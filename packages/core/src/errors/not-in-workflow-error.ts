import { CairnError, hasErrorMarker, markError } from '../world/errors/cairn-error.js';

const marker = Symbol.for('cairn.error.NotInWorkflow');

/**
 * A workflow primitive (`sleep`, `createHook`, `now`, `startChild`, ...) was called where no
 * workflow is running: at module top level, in a step body, or in code the workflow did not
 * start (a timer callback, an event handler). Those primitives only mean something inside a
 * replay, which is what records and replays them.
 */
export class NotInWorkflowError extends CairnError {
  override readonly code = 'NOT_IN_WORKFLOW';
  /** The primitive that was called, e.g. `sleep()`. */
  readonly api: string;

  constructor(args: { api: string; where?: string }) {
    super(`${args.api} can only be called inside ${args.where ?? 'a workflow function'}; it was called outside one`);
    this.api = args.api;
    markError(this, marker);
  }

  static override is(error: unknown): error is NotInWorkflowError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), api: this.api };
  }
}
