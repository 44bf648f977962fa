import type { JsonValue, SerializedError } from '../world/schemas/primitives.js';

/*
 * Step inputs and outputs, workflow inputs and results, and hook payloads are stored as
 * JSON. Plain JSON would silently turn a Date into a string and drop undefined, which
 * makes a replayed value differ from the original; this encoding keeps those types.
 * Tagged values are objects with a single "$cairn" key; a user object that happens to
 * have that key is escaped, so decoding is exact.
 */
type Tagged = { $cairn: [string, JsonValue] };

/**
 * Turns a value into storable JSON, keeping the types plain JSON would lose. Throws a
 * TypeError naming the path of the first part that cannot be stored: a class instance, a
 * function or symbol, a hole in a sparse array, or a value that contains itself.
 */
export function encode(value: unknown, path = 'value'): JsonValue {
  return encodeValue(value, path, new Set());
}

function encodeValue(value: unknown, path: string, ancestors: Set<object>): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : tag('number', String(value));
  if (value === undefined) return tag('undefined', null);
  if (typeof value === 'bigint') return tag('bigint', value.toString());
  if (typeof value !== 'object') {
    throw new TypeError(`Cannot store ${path}: values of type ${typeof value} are not serialisable`);
  }
  if (value instanceof Date) return tag('Date', Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString());
  if (value instanceof Uint8Array) return tag('Uint8Array', Buffer.from(value).toString('base64'));
  if (value instanceof Error)
    return tag('Error', { name: value.name, message: value.message, stack: value.stack ?? null });
  // Only containers can hold themselves; the set holds the ones on the current path.
  if (ancestors.has(value)) throw new TypeError(`Cannot store ${path}: it contains itself (a circular reference)`);
  ancestors.add(value);
  try {
    return encodeContainer(value, path, ancestors);
  } finally {
    ancestors.delete(value);
  }
}

function encodeContainer(value: object, path: string, ancestors: Set<object>): JsonValue {
  if (value instanceof Map)
    return tag(
      'Map',
      [...value].map(([key, item], index) => [
        encodeValue(key, `${path}.<key ${index}>`, ancestors),
        encodeValue(item, `${path}.<value ${index}>`, ancestors),
      ]),
    );
  if (value instanceof Set)
    return tag(
      'Set',
      [...value].map((item, index) => encodeValue(item, `${path}[${index}]`, ancestors)),
    );
  if (Array.isArray(value)) {
    const out: JsonValue[] = [];
    for (let index = 0; index < value.length; index++) {
      // JSON has no holes: storing one as null or undefined would change the value on replay.
      if (!(index in value)) {
        throw new TypeError(`Cannot store ${path}[${index}]: sparse arrays (holes) are not serialisable`);
      }
      out.push(encodeValue(value[index], `${path}[${index}]`, ancestors));
    }
    return out;
  }
  const prototype = Object.getPrototypeOf(value);
  if (prototype !== Object.prototype && prototype !== null) {
    throw new TypeError(
      `Cannot store ${path}: ${prototype?.constructor?.name ?? 'this object'} instances are not serialisable; pass plain data`,
    );
  }
  const out: Record<string, JsonValue> = {};
  for (const [key, item] of Object.entries(value)) out[key] = encodeValue(item, `${path}.${key}`, ancestors);
  return '$cairn' in out ? tag('escaped', out) : out;
}

function tag(kind: string, payload: JsonValue): Tagged {
  return { $cairn: [kind, payload] };
}

export function decode(value: JsonValue | undefined): unknown {
  if (value === undefined) return undefined;
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(decode);
  if ('$cairn' in value && Object.keys(value).length === 1) {
    const [kind, payload] = (value as Tagged).$cairn;
    switch (kind) {
      case 'undefined':
        return undefined;
      case 'number':
        return Number(payload);
      case 'bigint':
        return BigInt(payload as string);
      case 'Date':
        return new Date(payload as string);
      case 'Uint8Array':
        return new Uint8Array(Buffer.from(payload as string, 'base64'));
      case 'Map':
        return new Map((payload as JsonValue[][]).map(([key, item]) => [decode(key), decode(item)]));
      case 'Set':
        return new Set((payload as JsonValue[]).map(decode));
      case 'Error': {
        const { name, message, stack } = payload as { name: string; message: string; stack: string | null };
        const error = new Error(message);
        error.name = name;
        if (stack !== null) error.stack = stack;
        return error;
      }
      case 'escaped':
        return decodeObject(payload as Record<string, JsonValue>);
    }
  }
  return decodeObject(value as Record<string, JsonValue>);
}

function decodeObject(value: Record<string, JsonValue>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) out[key] = decode(item);
  return out;
}

/**
 * Describes anything a workflow or step threw, as the error a run or step records. It never
 * throws itself: a value that cannot be encoded is described rather than stored, because an
 * error that cannot be recorded would leave its run retrying forever.
 */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error.name,
      message: error.message,
      ...(error.stack === undefined ? {} : { stack: error.stack }),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  return { name: thrownName(error), message: thrownMessage(error) };
}

function thrownName(value: unknown): string {
  if (value === null || typeof value !== 'object') return 'Error';
  const name = Object.getPrototypeOf(value)?.constructor?.name;
  return typeof name === 'string' && name !== '' && name !== 'Object' ? name : 'Error';
}

function thrownMessage(value: unknown): string {
  if (typeof value === 'string') return value;
  let shown: string;
  try {
    shown = typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value);
  } catch {
    shown = Object.prototype.toString.call(value);
  }
  const kind = value !== null && typeof value === 'object' ? thrownName(value) : typeof value;
  return `threw a non-Error value (${kind}): ${shown ?? String(value)}`;
}
