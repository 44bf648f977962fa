import { z } from 'zod';
import { InvalidInputError } from '../errors/invalid-input-error.js';

/** Contract-wide limits. Worlds may accept less only where `capabilities` says so. */
export const limits = {
  /** Run ids, correlation ids, idempotency and group keys. */
  maxIdLength: 256,
  /** Hook tokens: long enough for a signed URL-safe token, short enough to index. */
  maxTokenLength: 256,
  /** Workflow, step, stream and topic names. */
  maxNameLength: 256,
  /** A hook delivery's id (`hook_received`'s `deliveryId`). */
  maxDeliveryIdLength: 128,
  /** Events in one `createBatch`. */
  maxBatchSize: 1000,
  /** Page size ceiling for every `list`. */
  maxPageSize: 1000,
  defaultPageSize: 100,
  /**
   * Largest event `seq`, stream index or position a caller may name: 2³¹ − 1, what a
   * 32-bit integer column holds. Larger numbers are refused as input rather than reaching
   * storage as an overflow.
   */
  maxPosition: 2 ** 31 - 1,
  /**
   * How deeply a payload may nest arrays and objects. Validating, serialising and storing a
   * value walk it recursively, so a value nested some thousands deep would exhaust the
   * stack somewhere along the way; it is refused as input instead. Real data stays far
   * below this.
   */
  maxPayloadDepth: 256,
} as const;

/** A UTF-16 surrogate with no partner: it has no UTF-8 form, so storage would rewrite it. */
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** `String.prototype.isWellFormed` (ES2024), where the runtime has it. */
const nativeIsWellFormed = (String.prototype as { isWellFormed?: (this: string) => boolean }).isWellFormed;

/** True when `text` is well-formed UTF-16 (every surrogate is half of a pair). */
export function isWellFormedText(text: string): boolean {
  // The native check is a flag on most strings; the pattern scans every character.
  return nativeIsWellFormed === undefined ? !loneSurrogate.test(text) : nativeIsWellFormed.call(text);
}

/**
 * Text every World can store exactly: no NUL (text columns, C strings and some protocols
 * cannot hold it) and no lone surrogate (it has no UTF-8 encoding and would come back as
 * U+FFFD, so two different names could become one).
 */
export const storableTextSchema = z
  .string()
  .refine((text) => !text.includes('\u0000'), 'must not contain NUL (\\u0000)')
  .refine(isWellFormedText, 'must not contain a lone UTF-16 surrogate');

/**
 * Ids are printable ASCII without spaces, so they survive URLs, file names, SQL and
 * Redis keys unescaped in logs and dashboards.
 */
export const printableAscii = /^[\x21-\x7e]+$/;

export const idSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(limits.maxIdLength, `must be at most ${limits.maxIdLength} characters`)
  .regex(printableAscii, 'must be printable ASCII without spaces');

/** Workflow and step names: any text a World can store exactly (see `storableTextSchema`). */
export const nameSchema = storableTextSchema
  .min(1, 'must not be empty')
  .max(limits.maxNameLength, `must be at most ${limits.maxNameLength} characters`);

/**
 * The id of one hook delivery, which a caller may choose (an idempotency key it already
 * has): any text a World can store exactly, not empty, at most `limits.maxDeliveryIdLength`.
 */
export const deliveryIdSchema = storableTextSchema
  .min(1, 'must not be empty')
  .max(limits.maxDeliveryIdLength, `must be at most ${limits.maxDeliveryIdLength} characters`);

/** An event `seq` a caller names (`afterSeq`): 0 for "before the first event". */
export const seqSchema = z
  .number()
  .int('must be a whole number')
  .nonnegative('must not be negative')
  .max(limits.maxPosition, `must be at most ${limits.maxPosition}`);

export const tokenSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(limits.maxTokenLength, `must be at most ${limits.maxTokenLength} characters`)
  .regex(printableAscii, 'must be printable ASCII without spaces');

/**
 * `JSON.stringify` writes a lone surrogate as a `\udXXX` escape (a paired one stays
 * literal), so an escape of that form, not itself preceded by an escaped backslash, means
 * the value held a lone surrogate.
 */
const escapedLoneSurrogate = /(?<!\\)(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/;

/**
 * Throws `InvalidInputError` for `field` when `json` (the `JSON.stringify` of a payload)
 * holds a lone UTF-16 surrogate. Storage that keeps JSON as UTF-8 text (PostgreSQL's
 * `json`) cannot hold one, so every World refuses it up front. Scans the serialised text
 * the caller already has, instead of walking the value again.
 */
export function assertStorableJson(json: string, field: string, value: unknown): void {
  // The pattern looks behind at every position; a plain search first spares a large payload
  // that scan (about 4 µs per 20 KB), since no such escape means no lone surrogate.
  if (json.includes('\\ud') && escapedLoneSurrogate.test(json)) {
    throw new InvalidInputError({ field, value, reason: 'must not contain a lone UTF-16 surrogate in any string' });
  }
}

/**
 * The same refusal as `assertStorableJson`, for a payload not yet serialised: every string
 * in `payload`, keys included, must be well-formed. For a caller that has no need of the
 * JSON text otherwise, this spares writing it out. `payload` is a validated JSON value
 * (nested at most `limits.maxPayloadDepth` deep); `value` is what the error shows.
 */
export function assertStorableValue(payload: unknown, field: string, value: unknown): void {
  if (!holdsOnlyWellFormedText(payload)) {
    throw new InvalidInputError({ field, value, reason: 'must not contain a lone UTF-16 surrogate in any string' });
  }
}

function holdsOnlyWellFormedText(payload: unknown): boolean {
  if (typeof payload === 'string') return isWellFormedText(payload);
  if (typeof payload !== 'object' || payload === null) return true;
  if (Array.isArray(payload)) {
    for (const item of payload) if (!holdsOnlyWellFormedText(item)) return false;
    return true;
  }
  for (const key in payload) {
    if (!isWellFormedText(key) || !holdsOnlyWellFormedText((payload as Record<string, unknown>)[key])) return false;
  }
  return true;
}

/** Epoch milliseconds. Every timestamp crossing a process boundary uses this form. */
export const timestampSchema = z.number().int('must be whole milliseconds').nonnegative();

/** True when `value` nests arrays and objects more than `limit` deep. Walks without recursion. */
export function nestsDeeperThan(value: unknown, limit: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const pending: [unknown, number][] = [[value, 1]];
  while (pending.length > 0) {
    const [current, depth] = pending.pop()!;
    if (depth > limit) return true;
    for (const child of Object.values(current as object)) {
      if (typeof child === 'object' && child !== null) pending.push([child, depth + 1]);
    }
  }
  return false;
}

/**
 * Anything `JSON.stringify` round-trips, nested at most `limits.maxPayloadDepth` deep.
 * Payloads are stored and shipped as JSON. The depth is checked first, without recursion,
 * so that a value too deep to validate is refused rather than crashing the validation.
 */
export const jsonValueSchema = z.preprocess((value, context) => {
  if (!nestsDeeperThan(value, limits.maxPayloadDepth)) return value;
  context.addIssue({
    code: 'custom',
    message: `nests arrays and objects deeper than ${limits.maxPayloadDepth} levels`,
  });
  return z.NEVER;
}, z.json());
export type JsonValue = z.infer<typeof jsonValueSchema>;

export const serializedErrorSchema = z.strictObject({
  name: z.string().max(limits.maxNameLength),
  message: z.string(),
  stack: z.string().optional(),
  code: z.string().max(limits.maxNameLength).optional(),
  /** Whatever structured detail the thrower attached (e.g. a FatalError's data). */
  data: jsonValueSchema.optional(),
});
export type SerializedError = z.infer<typeof serializedErrorSchema>;

export const pageSizeSchema = z
  .number()
  .int('must be a whole number')
  .min(1, 'must be at least 1')
  .max(limits.maxPageSize, `must be at most ${limits.maxPageSize}`);
