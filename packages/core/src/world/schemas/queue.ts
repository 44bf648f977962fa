import { z } from 'zod';
import { idSchema, jsonValueSchema, timestampSchema } from './primitives.js';

/** The characters a topic may hold. */
export const topicPattern = /^[A-Za-z0-9._:-]+$/;
export const maxTopicLength = 128;

/** Topic names: short, printable, no spaces; they become table values, keys and URL segments. */
export const topicSchema = z
  .string()
  .min(1, 'must not be empty')
  .max(maxTopicLength, `must be at most ${maxTopicLength} characters`)
  .regex(topicPattern, 'may contain only letters, digits and . _ : -');

/** The longest delay any World must honour: 400 days, more than any sleep a user asked for. */
export const maxQueueDelayMs = 400 * 24 * 60 * 60 * 1000;

export const sendOptionsSchema = z
  .strictObject({
    delayMs: z
      .number()
      .int('must be whole milliseconds')
      .min(0, 'must not be negative')
      .max(maxQueueDelayMs, `must be at most ${maxQueueDelayMs} (400 days)`)
      .optional(),
    idempotencyKey: idSchema.optional(),
    groupKey: idSchema.optional(),
  })
  .optional();
export type SendOptions = NonNullable<z.infer<typeof sendOptionsSchema>>;

export const minLeaseMs = 10;
export const maxLeaseMs = 86_400_000;

/** A lease length: whole milliseconds, from 10 ms to one day. */
export const leaseMsSchema = z
  .number()
  .int('must be whole milliseconds')
  .min(minLeaseMs, `must be at least ${minLeaseMs} ms`)
  .max(maxLeaseMs, `must be at most ${maxLeaseMs} (one day)`);

/** The most messages one append may queue, and the most claims it may settle. */
export const maxOutboxLength = 1000;

/** The longest message id or claim token a claim may carry. */
export const maxClaimIdLength = 200;
const claimIdSchema = z.string().min(1).max(maxClaimIdLength);

/** `EnqueueRequest.claim`: the message is born leased to its writer for `leaseMs`. */
export const enqueueClaimSchema = z.strictObject({
  leaseMs: leaseMsSchema,
  /** The claim's ids, when the writer chooses them (`EnqueueRequest.claim`). */
  messageId: claimIdSchema.optional(),
  token: claimIdSchema.optional(),
});

/** One message of an append's outbox; a claimed one takes no delay and no idempotency key. */
export const enqueueRequestSchema = z
  .strictObject({
    topic: topicSchema,
    payload: jsonValueSchema,
    options: sendOptionsSchema,
    claim: enqueueClaimSchema.optional(),
  })
  .superRefine((request, context) => {
    if (request.claim === undefined) return;
    for (const option of ['delayMs', 'idempotencyKey'] as const) {
      if (request.options?.[option] !== undefined) {
        context.addIssue({
          code: 'custom',
          path: ['options', option],
          message: 'must not be set on a claimed message (a claim is leased at once and is never deduplicated)',
        });
      }
    }
  });

/** A claim handed back to settle it (`QueueClaim`). */
export const queueClaimSchema = z.strictObject({
  topic: topicSchema,
  messageId: claimIdSchema,
  token: claimIdSchema,
  groupKey: idSchema.optional(),
});

/** How a claim ends (`ClaimOutcome`). */
export const claimOutcomeSchema = z.union([
  z.strictObject({ acknowledge: z.literal(true) }),
  z.strictObject({
    retryAfterMs: z
      .number()
      .int('must be whole milliseconds')
      .min(0, 'must not be negative')
      .max(maxQueueDelayMs, `must be at most ${maxQueueDelayMs} (400 days)`),
  }),
]);

export const consumeOptionsSchema = z
  .strictObject({
    concurrency: z.number().int('must be a whole number').min(1).max(1000).optional(),
    leaseMs: leaseMsSchema.optional(),
    retryBackoff: z
      .strictObject({
        initialMs: z.number().int().min(0).optional(),
        factor: z.number().min(1).optional(),
        maxMs: z.number().int().min(0).optional(),
      })
      .optional(),
  })
  .optional();
export type ConsumeOptions = NonNullable<z.infer<typeof consumeOptionsSchema>>;

export const queueMessageSchema = z.object({
  /** Stable across every redelivery of this message. */
  messageId: z.string().min(1),
  topic: topicSchema,
  payload: jsonValueSchema,
  /** 1 on first delivery, then one more per redelivery. */
  attempt: z.number().int().positive(),
  groupKey: idSchema.optional(),
  idempotencyKey: idSchema.optional(),
  enqueuedAt: timestampSchema,
  /** When the message became (or becomes) deliverable. */
  deliverAt: timestampSchema,
});
export type QueueMessage = z.infer<typeof queueMessageSchema>;
