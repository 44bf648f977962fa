import { hasErrorMarker, markError } from './cairn-error.js';
import { NotFoundError } from './not-found-error.js';

const marker = Symbol.for('cairn.error.HookNotFound');

/** No live hook answers to this token or id: it never existed, was disposed, or its run ended. */
export class HookNotFoundError extends NotFoundError {
  override readonly code: string = 'HOOK_NOT_FOUND';

  constructor(lookup: { token: string } | { runId: string; hookId: string }) {
    super(
      'token' in lookup
        ? `No live hook holds token ${JSON.stringify(lookup.token)}`
        : `Hook ${lookup.hookId} not found or disposed on run ${lookup.runId}`,
      lookup,
    );
    markError(this, marker);
  }

  static override is(error: unknown): error is HookNotFoundError {
    return hasErrorMarker(error, marker);
  }
}
