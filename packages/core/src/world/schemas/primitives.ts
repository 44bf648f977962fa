import { z } from 'zod';

/** Contract-wide limits. Worlds may accept less only where `capabilities` says so. */
export const limits = {
  /** Run ids, correlation ids, idempotency and group keys. */
  maxIdLength: 256,
  /** Hook tokens: long enough for a signed URL-safe token, short enough to index. */
  maxTokenLength: 256,
  /** Workflow, step, stream and topic names. */
  maxNameLength: 256,
  /** Events in one `createBatch`. */
  maxBatchSize: 1000,
  /** Page size ceiling for every `list`. */
  maxPageSize: 1000,
  defaultPageSize: 100,
} as const;

/**
 * Ids are printable ASCII without spaces, so they survive URLs, file names, SQL and
 * Redis keys unescaped in logs and dashboards.
 */
const printableAscii = /^[\x21-\x7e]+$/;

export const idSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(limits.maxIdLength, `must be at most ${limits.maxIdLength} characters`)
  .regex(printableAscii, 'must be printable ASCII without spaces');

export const nameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(limits.maxNameLength, `must be at most ${limits.maxNameLength} characters`);

export const tokenSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(limits.maxTokenLength, `must be at most ${limits.maxTokenLength} characters`)
  .regex(printableAscii, 'must be printable ASCII without spaces');

/** Epoch milliseconds. Every timestamp crossing a process boundary uses this form. */
export const timestampSchema = z.number().int('must be whole milliseconds').nonnegative();

/** Anything `JSON.stringify` round-trips. Payloads are stored and shipped as JSON. */
export const jsonValueSchema = z.json();
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
