import {
  DuplicateDeliveryError,
  EntityConflictError,
  FenceConflictError,
  formatEventId,
  HookNotFoundError,
  HookTokenConflictError,
  RunNotFoundError,
  RunTerminalError,
  StepNotFoundError,
  StreamClosedError,
  WaitNotFoundError,
  type WorldEvent,
} from '@cairn/core/world';
import { takenIdError } from './outbox.js';

/*
 * Views are stored as flat records whose every value is JSON text (see scripts/lib.lua):
 * a run as a Redis hash, a step, hook or wait as a cjson-encoded object of such values.
 * Fields starting with `_` are the World's own bookkeeping, not part of the entity.
 */

/** A record of JSON-text values back to the entity. */
export function decodeRecord<Entity>(record: Record<string, string>): Entity {
  const entity: Record<string, unknown> = {};
  for (const [field, text] of Object.entries(record)) {
    if (!field.startsWith('_')) entity[field] = JSON.parse(text);
  }
  return entity as Entity;
}

/** A cjson-encoded record (an entity hash field, or a snapshot an append returned). */
export const decodeEntity = <Entity>(encoded: string): Entity =>
  decodeRecord<Entity>(JSON.parse(encoded) as Record<string, string>);

/** An event hash entry, `createdAt|request JSON`, back to the stored event. */
export function decodeEvent(runId: string, seq: number, entry: string): WorldEvent {
  const bar = entry.indexOf('|');
  return {
    ...(JSON.parse(entry.slice(bar + 1)) as object),
    runId,
    seq,
    eventId: formatEventId(seq),
    createdAt: Number(entry.slice(0, bar)),
  } as WorldEvent;
}

/** A refusal a script returned, as a world-contract error. */
export interface ScriptFailure {
  code: string;
  [field: string]: unknown;
}

export function failureToError(runId: string, failure: ScriptFailure, streamName?: string): Error {
  const text = (field: string) => failure[field] as string;
  switch (failure.code) {
    case 'RUN_NOT_FOUND':
      return new RunNotFoundError({ runId });
    case 'RUN_TERMINAL':
      return new RunTerminalError({ runId, status: text('status'), eventType: text('eventType') });
    case 'ENTITY_CONFLICT':
      return new EntityConflictError({
        runId,
        entity: failure.entity as 'run' | 'step' | 'hook' | 'wait',
        ...(failure.correlationId === null ? {} : { correlationId: text('correlationId') }),
        message: text('message'),
      });
    case 'FENCE_CONFLICT':
      return new FenceConflictError({
        runId,
        expectedEventId: failure.expected as string | null,
        currentTail: { eventId: text('tailEventId'), seq: failure.tailSeq as number },
        ...(failure.reason === null ? {} : { reason: text('reason') }),
      });
    case 'STEP_NOT_FOUND':
      return new StepNotFoundError({ runId, stepId: text('id') });
    case 'WAIT_NOT_FOUND':
      return new WaitNotFoundError({ runId, waitId: text('id') });
    case 'HOOK_NOT_FOUND':
      return new HookNotFoundError({ runId, hookId: text('id') });
    case 'HOOK_TOKEN_CONFLICT':
      return new HookTokenConflictError({
        token: text('token'),
        heldBy: { runId: text('runId'), hookId: text('hookId') },
      });
    case 'DUPLICATE_DELIVERY':
      return new DuplicateDeliveryError({ runId, deliveryId: text('deliveryId'), hookId: text('hookId') });
    case 'MESSAGE_TAKEN':
      return takenIdError(failure.index as number, text('id'));
    case 'STREAM_CLOSED':
      return new StreamClosedError({ runId, stream: streamName ?? '' });
    default:
      return new Error(`world-redis: unexpected script failure ${JSON.stringify(failure)}`);
  }
}

/** cjson encodes an empty Lua table as `{}`: a list a script returned, as an array. */
export const asList = <Item>(value: Item[] | Record<string, never> | undefined): Item[] =>
  Array.isArray(value) ? value : [];
