import { z } from 'zod';
import { isWellFormedText, limits, timestampSchema } from './primitives.js';

export const streamNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .refine(
    (name) => ![...name].some((character) => character.charCodeAt(0) < 0x20),
    'must not contain control characters',
  )
  .refine(isWellFormedText, 'must not contain a lone UTF-16 surrogate');

/**
 * Text chunks come back as strings, binary ones as Uint8Array: the type is part of the
 * chunk. Text must be well-formed UTF-16, since Worlds store it as UTF-8: a writer that
 * cuts text into chunks cuts between code points (or writes bytes).
 */
export const streamChunkDataSchema = z.union(
  [z.string().refine(isWellFormedText, 'must not contain a lone UTF-16 surrogate'), z.instanceof(Uint8Array)],
  { error: 'must be a string or a Uint8Array' },
);

export const readStreamOptionsSchema = z
  .strictObject({
    /** 0-based; negative counts back from the tail at the moment the read starts. */
    fromIndex: z
      .number()
      .int('must be a whole number')
      .min(-limits.maxPosition, `must be at least -${limits.maxPosition}`)
      .max(limits.maxPosition, `must be at most ${limits.maxPosition}`)
      .optional(),
    signal: z.instanceof(AbortSignal).optional(),
  })
  .optional();
export type ReadStreamOptions = NonNullable<z.infer<typeof readStreamOptionsSchema>>;

export interface StreamChunk {
  /** 0-based position in the stream, dense. */
  index: number;
  data: string | Uint8Array;
  createdAt: number;
}

export const streamInfoSchema = z.object({
  name: streamNameSchema,
  chunkCount: z.number().int().nonnegative(),
  closed: z.boolean(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
});
export type StreamInfo = z.infer<typeof streamInfoSchema>;
