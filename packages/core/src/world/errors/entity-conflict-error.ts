import { CairnError, hasErrorMarker, markError } from './cairn-error.js';

const marker = Symbol.for('cairn.error.EntityConflict');

export type EntityKind = 'run' | 'step' | 'hook' | 'wait' | 'stream';

/**
 * The append would break an entity rule: a second `step_created` for one correlation id,
 * an event on a terminal step, a second `wait_completed`, a run id already taken. Nothing
 * was written; the current state can be read back.
 */
export class EntityConflictError extends CairnError {
  override readonly code: string = 'ENTITY_CONFLICT';
  readonly runId: string;
  readonly entity: EntityKind;
  readonly correlationId: string | undefined;

  constructor(args: { runId: string; entity: EntityKind; correlationId?: string; message: string }) {
    super(args.message);
    this.runId = args.runId;
    this.entity = args.entity;
    this.correlationId = args.correlationId;
    markError(this, marker);
  }

  static override is(error: unknown): error is EntityConflictError {
    return hasErrorMarker(error, marker);
  }

  override toJSON() {
    return { ...super.toJSON(), runId: this.runId, entity: this.entity, correlationId: this.correlationId };
  }
}
