import type { JsonValue } from '../world/schemas/primitives.js';

/*
 * Step inputs and outputs, workflow inputs and results, and hook payloads are stored as
 * JSON. Plain JSON would silently turn a Date into a string and drop undefined, which
 * makes a replayed value differ from the original; this encoding keeps those types.
 * Tagged values are objects with a single "$cairn" key; a user object that happens to
 * have that key is escaped, so decoding is exact.
 */
type Tagged = { $cairn: [string, JsonValue] };

export function encode(value: unknown, path = 'value'): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : tag('number', String(value));
  if (value === undefined) return tag('undefined', null);
  if (typeof value === 'bigint') return tag('bigint', value.toString());
  if (value instanceof Date) return tag('Date', value.toISOString());
  if (value instanceof Uint8Array) return tag('Uint8Array', Buffer.from(value).toString('base64'));
  if (value instanceof Map)
    return tag(
      'Map',
      [...value].map(([key, item], index) => [
        encode(key, `${path}.<key ${index}>`),
        encode(item, `${path}.<value ${index}>`),
      ]),
    );
  if (value instanceof Set)
    return tag(
      'Set',
      [...value].map((item, index) => encode(item, `${path}[${index}]`)),
    );
  if (value instanceof Error)
    return tag('Error', { name: value.name, message: value.message, stack: value.stack ?? null });
  if (Array.isArray(value)) return value.map((item, index) => encode(item, `${path}[${index}]`));
  if (typeof value === 'object') {
    const prototype = Object.getPrototypeOf(value);
    if (prototype !== Object.prototype && prototype !== null) {
      throw new TypeError(
        `Cannot store ${path}: ${prototype?.constructor?.name ?? 'this object'} instances are not serialisable; pass plain data`,
      );
    }
    const out: Record<string, JsonValue> = {};
    for (const [key, item] of Object.entries(value)) out[key] = encode(item, `${path}.${key}`);
    return '$cairn' in out ? tag('escaped', out) : out;
  }
  throw new TypeError(`Cannot store ${path}: values of type ${typeof value} are not serialisable`);
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
