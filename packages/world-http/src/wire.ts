import { InvalidInputError, type StreamChunk } from '@cairn/core/world';

/**
 * A stream chunk as JSON. Text stays a JSON string (which keeps lone surrogates and NULs
 * exactly), bytes travel as base64: the chunk's type is part of the data.
 */
export type WireChunkData = { text: string } | { base64: string };

export interface WireChunk {
  index: number;
  createdAt: number;
  data: WireChunkData;
}

export function encodeChunkData(data: string | Uint8Array): WireChunkData {
  return typeof data === 'string' ? { text: data } : { base64: Buffer.from(data).toString('base64') };
}

export function decodeChunkData(data: unknown, field: string): string | Uint8Array {
  if (typeof data === 'object' && data !== null) {
    const keys = Object.keys(data);
    if (keys.length === 1 && typeof (data as { text?: unknown }).text === 'string')
      return (data as { text: string }).text;
    const base64 = (data as { base64?: unknown }).base64;
    if (keys.length === 1 && typeof base64 === 'string' && /^[A-Za-z0-9+/]*={0,2}$/.test(base64)) {
      return new Uint8Array(Buffer.from(base64, 'base64'));
    }
  }
  throw new InvalidInputError({ field, value: data, reason: 'must be { text: string } or { base64: string }' });
}

export function encodeChunk(chunk: StreamChunk): WireChunk {
  return { index: chunk.index, createdAt: chunk.createdAt, data: encodeChunkData(chunk.data) };
}

/**
 * The fields of a request body, refusing anything that is not a JSON object or that carries
 * fields the route does not know: a misspelt field is an error, as in the World contract.
 */
export function bodyFields(body: unknown, allowed: readonly string[]): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new InvalidInputError({ field: 'body', value: body, reason: 'must be a JSON object' });
  }
  for (const key of Object.keys(body)) {
    if (!allowed.includes(key))
      throw new InvalidInputError({ field: `body.${key}`, value: key, reason: 'is not a known field' });
  }
  return body as Record<string, unknown>;
}

/** A whole number in range, for the HTTP layer's own fields (wait times, lease lengths). */
export function wholeNumber(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidInputError({ field, value, reason: `must be a whole number from ${min} to ${max}` });
  }
  return value;
}

export function text(value: unknown, field: string, maxLength = 256): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > maxLength) {
    throw new InvalidInputError({ field, value, reason: `must be a string of 1 to ${maxLength} characters` });
  }
  return value;
}

/** A request's path, without its query. */
export function pathOf(url = '/'): string {
  const query = url.indexOf('?');
  return query < 0 ? url : url.slice(0, query);
}
