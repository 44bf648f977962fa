import { z } from 'zod';
import {
  deliveryIdSchema,
  idSchema,
  jsonValueSchema,
  limits,
  nameSchema,
  serializedErrorSchema,
  storableTextSchema,
  timestampSchema,
  tokenSchema,
} from './primitives.js';
import { enqueueRequestSchema, maxOutboxLength, queueClaimSchema } from './queue.js';

/*
 * One create-request schema per event type. Run-level events carry no correlation id;
 * entity events must carry the id of the step, hook or wait they concern. Objects are
 * strict so a misspelt field is an error rather than silently dropped data.
 */
const noData = z.strictObject({}).optional();

// `correlationId?: undefined` keeps `event.correlationId` readable on every event type.
const noCorrelation = z.undefined({ error: 'is not allowed on run-level events' }).optional();
const runLevel = <Type extends string, Data extends z.ZodType>(eventType: Type, eventData: Data) =>
  z.strictObject({ eventType: z.literal(eventType), correlationId: noCorrelation, eventData });

const entityLevel = <Type extends string, Data extends z.ZodType>(eventType: Type, eventData: Data) =>
  z.strictObject({ eventType: z.literal(eventType), correlationId: idSchema, eventData });

export const runCreatedRequestSchema = runLevel(
  'run_created',
  z.strictObject({
    workflowName: nameSchema,
    input: jsonValueSchema.optional(),
    /** Free-form tags the caller wants to see on the run (deployment, tenant, ...). */
    metadata: z.record(z.string(), jsonValueSchema).optional(),
    /** Set when this run is a child of another run. */
    parentRunId: idSchema.optional(),
  }),
);
export const runStartedRequestSchema = runLevel('run_started', noData);
export const runCompletedRequestSchema = runLevel(
  'run_completed',
  z.strictObject({ output: jsonValueSchema.optional() }),
);
export const runFailedRequestSchema = runLevel('run_failed', z.strictObject({ error: serializedErrorSchema }));
export const runCancelledRequestSchema = runLevel(
  'run_cancelled',
  z.strictObject({ reason: z.string().max(4096).optional() }).optional(),
);

/** Why a pending run has not started; one code per cause a worker can diagnose. */
export const runWaitingReasons = ['workflow-not-registered'] as const;
export const runWaitingReasonSchema = z.enum(runWaitingReasons);
export type RunWaitingReason = z.infer<typeof runWaitingReasonSchema>;

/**
 * Advisory: a worker that cannot start a pending run says why (`workflow-not-registered`:
 * the run's workflow is not among its workflows). It records no decision, so replay skips
 * it; Worlds accept it only while the run is pending, and the run view shows it until the
 * run starts or ends.
 */
export const runWaitingRequestSchema = runLevel(
  'run_waiting',
  z.strictObject({
    reason: runWaitingReasonSchema,
    /** The explanation for people: what is missing and what to do about it. */
    message: storableTextSchema.min(1, 'must not be empty').max(4096, 'must be at most 4096 characters'),
    /** The workflows the reporting worker has, so a misspelt or forgotten name stands out. */
    workerWorkflows: z.array(nameSchema).max(100, 'must hold at most 100 names').optional(),
  }),
);

export const stepCreatedRequestSchema = entityLevel(
  'step_created',
  z.strictObject({
    stepName: nameSchema,
    input: jsonValueSchema.optional(),
    /**
     * Where the step's attempts run: on the worker orchestrating the run (`inline`, the
     * default) or by consumers of the step queue (`queue`). Recorded so that no two
     * workers ever both believe an attempt is theirs to start.
     */
    placement: z.enum(['inline', 'queue']).optional(),
  }),
);
export const stepStartedRequestSchema = entityLevel('step_started', noData);
export const stepCompletedRequestSchema = entityLevel(
  'step_completed',
  z.strictObject({ output: jsonValueSchema.optional() }).optional(),
);
export const stepFailedRequestSchema = entityLevel('step_failed', z.strictObject({ error: serializedErrorSchema }));
export const stepRetryingRequestSchema = entityLevel(
  'step_retrying',
  z.strictObject({ error: serializedErrorSchema, retryAfter: timestampSchema.optional() }),
);

export const hookCreatedRequestSchema = entityLevel(
  'hook_created',
  z.strictObject({ token: tokenSchema, metadata: jsonValueSchema.optional() }),
);
export const hookReceivedRequestSchema = entityLevel(
  'hook_received',
  z
    .strictObject({
      payload: jsonValueSchema.optional(),
      /**
       * Identifies the delivery, so a sender that cannot tell whether its append landed (the
       * reply was lost) does not deliver twice: a World with `capabilities.uniqueDeliveryIds`
       * refuses a second one in the run, and on any World the sender can look for it in the
       * log. The workflow sees only the payload.
       */
      deliveryId: deliveryIdSchema.optional(),
    })
    .optional(),
);
export const hookDisposedRequestSchema = entityLevel('hook_disposed', noData);

export const waitCreatedRequestSchema = entityLevel('wait_created', z.strictObject({ resumeAt: timestampSchema }));
export const waitCompletedRequestSchema = entityLevel('wait_completed', noData);

const requestSchemas = [
  runCreatedRequestSchema,
  runStartedRequestSchema,
  runCompletedRequestSchema,
  runFailedRequestSchema,
  runCancelledRequestSchema,
  runWaitingRequestSchema,
  stepCreatedRequestSchema,
  stepStartedRequestSchema,
  stepCompletedRequestSchema,
  stepFailedRequestSchema,
  stepRetryingRequestSchema,
  hookCreatedRequestSchema,
  hookReceivedRequestSchema,
  hookDisposedRequestSchema,
  waitCreatedRequestSchema,
  waitCompletedRequestSchema,
] as const;

export const eventTypes = requestSchemas.map((schema) => schema.shape.eventType.value) as [
  (typeof requestSchemas)[number]['shape']['eventType']['value'],
  ...(typeof requestSchemas)[number]['shape']['eventType']['value'][],
];
export type EventType = (typeof eventTypes)[number];

export const createEventRequestSchema = z.discriminatedUnion('eventType', requestSchemas);
export type CreateEventRequest = z.infer<typeof createEventRequestSchema>;

/** Fields a World adds when it commits an event. */
export const committedFields = {
  runId: idSchema,
  /** Dense, 1-based position in the run's log, allocated at commit. */
  seq: z.number().int().positive(),
  /** Unique within the run and sorts like `seq` as a plain string. */
  eventId: z.string().min(1),
  /** Commit time in epoch ms; never decreases within a run. */
  createdAt: timestampSchema,
};

/** The stored-event schema: each create-request schema extended with the committed fields. */
export const eventSchema = z.discriminatedUnion(
  'eventType',
  requestSchemas.map((schema) => schema.extend(committedFields)) as unknown as Parameters<
    typeof z.discriminatedUnion
  >[1],
) as unknown as z.ZodType<WorldEvent>;
export type WorldEvent = CreateEventRequest & {
  runId: string;
  seq: number;
  eventId: string;
  createdAt: number;
};
export type WorldEventOf<Type extends EventType> = Extract<WorldEvent, { eventType: Type }>;

export const createEventParamsSchema = z
  .strictObject({
    lastKnownEventId: z.string().min(1).max(limits.maxIdLength).optional(),
    asOfTimestamp: z.number().finite().optional(),
    createdAt: z.number().int('must be whole milliseconds').nonnegative().optional(),
    enqueue: z
      .array(enqueueRequestSchema)
      .max(maxOutboxLength, `must hold at most ${maxOutboxLength} messages`)
      .optional(),
    acknowledge: z
      .array(queueClaimSchema)
      .max(maxOutboxLength, `must hold at most ${maxOutboxLength} claims`)
      .optional(),
  })
  .optional();

/**
 * Event types that concern an entity and so require a correlation id. Kept as data so
 * Worlds can route without re-deriving it from the schemas.
 */
export const entityOfEventType = {
  run_created: 'run',
  run_started: 'run',
  run_completed: 'run',
  run_failed: 'run',
  run_cancelled: 'run',
  run_waiting: 'run',
  step_created: 'step',
  step_started: 'step',
  step_completed: 'step',
  step_failed: 'step',
  step_retrying: 'step',
  hook_created: 'hook',
  hook_received: 'hook',
  hook_disposed: 'hook',
  wait_created: 'wait',
  wait_completed: 'wait',
} as const satisfies Record<EventType, 'run' | 'step' | 'hook' | 'wait'>;
