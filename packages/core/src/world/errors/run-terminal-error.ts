import { CairnError, hasErrorMarker, markError } from './cairn-error.js';

const marker = Symbol.for('cairn.error.RunTerminal');

/** The run already completed, failed or was cancelled; it takes no more events. */
export class RunTerminalError extends CairnError {
  override readonly code = 'RUN_TERMINAL';
  readonly runId: string;
  readonly status: string;

  constructor(args: { runId: string; status: string; eventType?: string }) {
    super(
      `Run ${args.runId} is ${args.status}${args.eventType ? `; refusing ${args.eventType}` : ''}: a terminal run takes no more events`,
    );
    this.runId = args.runId;
    this.status = args.status;
    markError(this, marker);
  }

  static override is(error: unknown): error is RunTerminalError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), runId: this.runId, status: this.status };
  }
}
