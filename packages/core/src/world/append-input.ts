import { z } from 'zod';
import { InvalidInputError } from './errors/invalid-input-error.js';
import { surelyFitsJson } from './json-size-bound.js';
import { acceptEventRequestQuickly, isIdQuickly } from './quick-event-check.js';
import { acceptEventParamsQuickly } from './quick-params-check.js';
import { isTerminalRunStatus, type RunStatus } from './schemas/entities.js';
import { type CreateEventRequest, createEventParamsSchema, createEventRequestSchema } from './schemas/events.js';
import {
  assertStorableValue,
  idSchema,
  type JsonValue,
  limits,
  pageSizeSchema,
  seqSchema,
} from './schemas/primitives.js';
import { ulid } from './ulid.js';
import { parseInput } from './validation.js';
import type { CreateEventParams, WatchOptions } from './world.js';

/** An append whose input passed every check a World must make before touching storage. */
export interface AppendInput {
  /** The run id, minted (a ULID) when the caller passed null for a run_created. */
  runId: string;
  requests: CreateEventRequest[];
  params: CreateEventParams | undefined;
  /** The append starts with run_created: the run must not exist yet. */
  creates: boolean;
}

/**
 * Validates `events.create` / `events.createBatch` input the same way in every World:
 * each request against its schema (naming `request…` or `requests[i]…`), the batch size,
 * run_created only first, a null run id only for run_created, the params, and the
 * serialised size. Throws `InvalidInputError`; nothing has been written.
 */
export function parseAppendInput(
  runId: string | null,
  input: { request: unknown } | { requests: unknown },
  params: unknown,
  maxPayloadBytes: number,
): AppendInput {
  let requests: CreateEventRequest[];
  if ('request' in input) {
    requests = [
      acceptEventRequestQuickly(input.request) ?? parseInput(createEventRequestSchema, input.request, 'request'),
    ];
  } else {
    const raw = input.requests;
    if (!Array.isArray(raw) || raw.length === 0 || raw.length > limits.maxBatchSize) {
      throw new InvalidInputError({
        field: 'requests',
        value: raw,
        reason: `must be an array of 1 to ${limits.maxBatchSize} event requests`,
      });
    }
    requests = raw.map(
      (request, index) =>
        acceptEventRequestQuickly(request) ?? parseInput(createEventRequestSchema, request, `requests[${index}]`),
    );
  }
  const parsedParams = (
    acceptEventParamsQuickly(params) ?? { params: parseInput(createEventParamsSchema, params, 'params') }
  ).params;
  requests.forEach((request, index) => {
    if (index > 0 && request.eventType === 'run_created') {
      throw new InvalidInputError({
        field: `requests[${index}].eventType`,
        value: request.eventType,
        reason: 'run_created may only be the first event of a batch',
      });
    }
  });
  const creates = requests[0]!.eventType === 'run_created';
  if (runId === null && !creates) {
    throw new InvalidInputError({ field: 'runId', value: null, reason: 'may be null only for run_created' });
  }
  const resolvedRunId = runId ?? ulid();
  if (!isIdQuickly(resolvedRunId)) parseInput(idSchema, resolvedRunId, 'runId');
  const enqueue = parsedParams?.enqueue ?? [];
  assertStorableValue(
    requests,
    'request' in input ? 'request' : 'requests',
    'request' in input ? input.request : input.requests,
  );
  assertStorableValue(enqueue, 'params.enqueue', parsedParams?.enqueue);
  // Counted exactly only when a bound cannot settle it: the World serialises what it stores
  // itself, so the text would otherwise be made just to be measured.
  if (surelyFitsJson([requests, enqueue] as unknown as JsonValue, maxPayloadBytes)) {
    return { runId: resolvedRunId, requests, params: parsedParams, creates };
  }
  const size = Buffer.byteLength(JSON.stringify(requests)) + Buffer.byteLength(JSON.stringify(enqueue));
  if (size > maxPayloadBytes) {
    throw new InvalidInputError({
      field: 'request' in input ? 'request' : 'requests',
      value: `${size} bytes`,
      reason: `must serialise to at most ${maxPayloadBytes} bytes`,
    });
  }
  return { runId: resolvedRunId, requests, params: parsedParams, creates };
}

/** `events.watch` options, identical in every World (which may ignore the hint they carry). */
export const watchOptionsSchema = z.strictObject({ untilEnded: z.boolean().optional() }).optional();

/**
 * For a World that honours `untilEnded`: whether a watch with `options`, once the log has
 * moved past its `afterSeq`, answers with the run in `status`. Told that only the end matters
 * (a client waiting for a result), it holds on through events that leave the run going,
 * rather than answer each one and be asked again.
 */
export function watchAnswersAt(options: WatchOptions | undefined, status: RunStatus): boolean {
  return options?.untilEnded !== true || isTerminalRunStatus(status);
}

/** `events.list` options, identical in every World. */
export const listEventsOptionsSchema = z
  .strictObject({ afterSeq: seqSchema.optional(), limit: pageSizeSchema.optional() })
  .optional();
