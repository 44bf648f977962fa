import type { CreateEventRequest } from './schemas/events.js';
import { isWellFormedText, limits, printableAscii } from './schemas/primitives.js';

/*
 * Every append is validated at the World's boundary, and the engine appends on every step.
 * The schemas' general machinery (a discriminated union of strict objects over `z.json()`
 * payloads) spends about 50 µs on each such append once warm, and several times that in a
 * process's first runs: some 7% of a warm worker's CPU on a run of short steps. The checks
 * below accept the event types and parameters the engine writes on its hot path and build
 * the same value the schemas would (fresh containers, fields in schema order). They only
 * ever accept: anything they are not sure of, including every invalid input, goes to the
 * schemas, which decide and name the bad field. A differential test holds them to that.
 */

/** Returned when a check is not sure; the caller then asks the schema. */
export const unsure = Symbol('unsure');

export function isPlainRecord(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Own keys, when every one is an enumerable string other than `__proto__`; else undefined. */
function plainKeys(value: Record<string, unknown>): string[] | undefined {
  const keys = Object.keys(value);
  if (Reflect.ownKeys(value).length !== keys.length) return undefined;
  for (const key of keys) if (key === '__proto__') return undefined;
  return keys;
}

/** True when every own key of `value` is one of `allowed`. */
export function onlyKeys(value: Record<string, unknown>, allowed: readonly string[]): boolean {
  const keys = plainKeys(value);
  if (keys === undefined) return false;
  for (const key of keys) if (!allowed.includes(key)) return false;
  return true;
}

/** True when `value` certainly passes `idSchema`. */
export function isIdQuickly(value: unknown): value is string {
  // The pattern needs at least one character, so this also refuses an empty id.
  return typeof value === 'string' && value.length <= limits.maxIdLength && printableAscii.test(value);
}

function isName(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= limits.maxNameLength &&
    !value.includes('\u0000') &&
    isWellFormedText(value)
  );
}

export function isTimestamp(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0;
}

/** A copy of a JSON payload nested at most `limits.maxPayloadDepth` deep, or `unsure`. */
export function copyJson(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return value;
    case 'number':
      return Number.isFinite(value) ? value : unsure;
    case 'object': {
      if (value === null) return null;
      if (depth > limits.maxPayloadDepth) return unsure;
      if (Array.isArray(value)) {
        const copy: unknown[] = new Array(value.length);
        for (let index = 0; index < value.length; index++) {
          const item = copyJson(value[index], depth + 1);
          if (item === unsure) return unsure;
          copy[index] = item;
        }
        return copy;
      }
      if (!isPlainRecord(value)) return unsure;
      const keys = plainKeys(value);
      if (keys === undefined) return unsure;
      const copy: Record<string, unknown> = {};
      for (const key of keys) {
        const item = copyJson(value[key], depth + 1);
        if (item === unsure) return unsure;
        copy[key] = item;
      }
      return copy;
    }
    default:
      return unsure;
  }
}

/** An optional payload field of `data`: absent stays absent. */
function optionalJson(data: Record<string, unknown>, key: string, into: Record<string, unknown>): boolean {
  if (!Object.hasOwn(data, key) || data[key] === undefined) return true;
  const copy = copyJson(data[key], 1);
  if (copy === unsure) return false;
  into[key] = copy;
  return true;
}

/** An optional field of `data` that `accepts` takes as it is: absent stays absent; false when present and refused. */
export function optionalField(
  data: Record<string, unknown>,
  key: string,
  accepts: (value: unknown) => boolean,
  into: Record<string, unknown>,
): boolean {
  const value = data[key];
  if (value === undefined) return true;
  if (!accepts(value)) return false;
  into[key] = value;
  return true;
}

const isDeliveryId = (value: unknown) => isName(value) && value.length <= limits.maxDeliveryIdLength;

/** `eventData` checks by event type: the copied data (undefined when absent), or `unsure`. */
const dataCheckers: Partial<Record<CreateEventRequest['eventType'], (data: unknown) => unknown>> = {
  run_started: noData,
  step_started: noData,
  hook_disposed: noData,
  wait_completed: noData,
  run_completed: (data) => jsonFields(data, ['output']),
  step_completed: (data) => (data === undefined ? undefined : jsonFields(data, ['output'])),
  hook_received: (data) => {
    if (data === undefined) return undefined;
    if (!isPlainRecord(data) || !onlyKeys(data, ['payload', 'deliveryId'])) return unsure;
    const copy: Record<string, unknown> = {};
    if (!optionalJson(data, 'payload', copy) || !optionalField(data, 'deliveryId', isDeliveryId, copy)) return unsure;
    return copy;
  },
  step_created: (data) => {
    if (!isPlainRecord(data) || !onlyKeys(data, ['stepName', 'input', 'placement'])) return unsure;
    if (!isName(data.stepName)) return unsure;
    const copy: Record<string, unknown> = { stepName: data.stepName };
    if (!optionalJson(data, 'input', copy)) return unsure;
    if (data.placement !== undefined) {
      if (data.placement !== 'inline' && data.placement !== 'queue') return unsure;
      copy.placement = data.placement;
    }
    return copy;
  },
  run_created: (data) => {
    if (!isPlainRecord(data) || !onlyKeys(data, ['workflowName', 'input', 'metadata', 'parentRunId'])) return unsure;
    if (!isName(data.workflowName)) return unsure;
    const copy: Record<string, unknown> = { workflowName: data.workflowName };
    if (!optionalJson(data, 'input', copy)) return unsure;
    if (data.metadata !== undefined) {
      // A record of payloads: one level deeper than a payload of its own.
      if (!isPlainRecord(data.metadata)) return unsure;
      const metadata = copyJson(data.metadata, 0);
      if (metadata === unsure) return unsure;
      copy.metadata = metadata;
    }
    if (!optionalField(data, 'parentRunId', isIdQuickly, copy)) return unsure;
    return copy;
  },
  wait_created: (data) => {
    if (!isPlainRecord(data) || !onlyKeys(data, ['resumeAt']) || !isTimestamp(data.resumeAt)) return unsure;
    return { resumeAt: data.resumeAt };
  },
};

function noData(data: unknown): unknown {
  if (data === undefined) return undefined;
  return isPlainRecord(data) && onlyKeys(data, []) ? {} : unsure;
}

function jsonFields(data: unknown, keys: readonly string[]): unknown {
  if (!isPlainRecord(data) || !onlyKeys(data, keys)) return unsure;
  const copy: Record<string, unknown> = {};
  for (const key of keys) if (!optionalJson(data, key, copy)) return unsure;
  return copy;
}

const runLevelTypes: ReadonlySet<string> = new Set(['run_created', 'run_started', 'run_completed']);

/**
 * The request as `createEventRequestSchema` would parse it, when it is certainly valid and
 * of a type the engine writes on its hot path; otherwise undefined, and the caller parses
 * it with the schema.
 */
export function acceptEventRequestQuickly(value: unknown): CreateEventRequest | undefined {
  if (!isPlainRecord(value) || !onlyKeys(value, ['eventType', 'correlationId', 'eventData'])) return undefined;
  const { eventType } = value;
  if (typeof eventType !== 'string' || !Object.hasOwn(dataCheckers, eventType)) return undefined;
  const runLevel = runLevelTypes.has(eventType);
  if (runLevel ? value.correlationId !== undefined : !isIdQuickly(value.correlationId)) return undefined;
  const eventData = dataCheckers[eventType as CreateEventRequest['eventType']]!(value.eventData);
  if (eventData === unsure) return undefined;
  const request: Record<string, unknown> = { eventType };
  if (!runLevel) request.correlationId = value.correlationId;
  if (eventData !== undefined) request.eventData = eventData;
  return request as CreateEventRequest;
}
