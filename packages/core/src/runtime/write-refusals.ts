import { CairnError } from '../world/errors/cairn-error.js';
import { FenceConflictError } from '../world/errors/fence-conflict-error.js';

/**
 * Thrown when a batch the replay had already consumed speculatively was refused: the
 * completions in it were written alone, and the replay must be rebuilt from the log.
 */
export class SpeculationRefused extends Error {
  override name = 'SpeculationRefused';
}

/** A refusal that may pass if the same write is tried again later (an outage, a closing World). */
export function isTransient(error: unknown): boolean {
  if (error instanceof SpeculationRefused) return false;
  return !CairnError.is(error) || isOutage(error);
}

/** A refusal the World marks as retryable (it is unreachable or overloaded), as opposed to a decision. */
export function isOutage(error: unknown): boolean {
  return CairnError.is(error) && error.retryable && !FenceConflictError.is(error);
}
