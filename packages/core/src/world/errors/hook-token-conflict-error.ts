import { CairnError, hasErrorMarker, markError } from './cairn-error.js';

const marker = Symbol.for('cairn.error.HookTokenConflict');

/** Another live hook holds this token. Tokens are unique among live hooks across all runs. */
export class HookTokenConflictError extends CairnError {
  override readonly code = 'HOOK_TOKEN_CONFLICT';
  readonly token: string;
  readonly heldBy: { runId: string; hookId: string };

  constructor(args: { token: string; heldBy: { runId: string; hookId: string } }) {
    super(
      `Hook token ${JSON.stringify(args.token)} is held by live hook ${args.heldBy.hookId} of run ${args.heldBy.runId}`,
    );
    this.token = args.token;
    this.heldBy = args.heldBy;
    markError(this, marker);
  }

  static override is(error: unknown): error is HookTokenConflictError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), token: this.token, heldBy: this.heldBy };
  }
}
