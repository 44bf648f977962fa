import { z } from 'zod';
import { timestampSchema } from './primitives.js';

export const streamNameSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(256, 'must be at most 256 characters')
  .refine(
    (name) => ![...name].some((character) => character.charCodeAt(0) < 0x20),
    'must not contain control characters',
  );

/** Text chunks come back as strings, binary ones as Uint8Array: the type is part of the chunk. */
export const streamChunkDataSchema = z.union([z.string(), z.instanceof(Uint8Array)], {
  error: 'must be a string or a Uint8Array',
});

export const readStreamOptionsSchema = z
  .strictObject({
    /** 0-based; negative counts back from the tail at the moment the read starts. */
    fromIndex: z.number().int('must be a whole number').optional(),
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
