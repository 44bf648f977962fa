import {
  CairnError,
  DuplicateDeliveryError,
  describeValue,
  EntityConflictError,
  EventNotFoundError,
  FenceConflictError,
  HookNotFoundError,
  HookTokenConflictError,
  InvalidInputError,
  NotFoundError,
  RunNotFoundError,
  RunTerminalError,
  StepNotFoundError,
  StreamClosedError,
  WaitNotFoundError,
  WorldClosedError,
  WorldCorruptedError,
  WorldUnavailableError,
} from '@cairn/core/world';
import { ForbiddenError } from './errors/forbidden-error.js';
import { PayloadTooLargeError } from './errors/payload-too-large-error.js';
import { ProtocolError } from './errors/protocol-error.js';
import { UnauthorizedError } from './errors/unauthorized-error.js';

/** The JSON body of every error response: `{ error: WireError }`. `code` is stable. */
export interface WireError {
  code: string;
  name: string;
  message: string;
  [field: string]: unknown;
}

const statusOfCode: Record<string, number> = {
  INVALID_INPUT: 400,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  RUN_NOT_FOUND: 404,
  STEP_NOT_FOUND: 404,
  WAIT_NOT_FOUND: 404,
  EVENT_NOT_FOUND: 404,
  HOOK_NOT_FOUND: 404,
  ENTITY_CONFLICT: 409,
  HOOK_TOKEN_CONFLICT: 409,
  DUPLICATE_DELIVERY: 409,
  STREAM_CLOSED: 409,
  RUN_TERMINAL: 410,
  FENCE_CONFLICT: 412,
  PAYLOAD_TOO_LARGE: 413,
  WORLD_CLOSED: 503,
  WORLD_UNAVAILABLE: 503,
  WORLD_CORRUPTED: 500,
};

/** Any thrown value as a status and a typed body. Unknown faults become a bare 500: their details stay on the server. */
export function errorToWire(error: unknown): { status: number; body: WireError } {
  if (ProtocolError.is(error)) return { status: error.status, body: error.toJSON() as WireError };
  if (!CairnError.is(error)) {
    return { status: 500, body: { code: 'INTERNAL_ERROR', name: 'ProtocolError', message: 'Internal server error' } };
  }
  const body = error.toJSON() as WireError;
  // The client rebuilds the offending value itself when it survives JSON; otherwise its description.
  if (InvalidInputError.is(error)) body.value = wireValue(error.value);
  return { status: statusOfCode[error.code] ?? 500, body };
}

function wireValue(value: unknown): unknown {
  try {
    const text = JSON.stringify(value);
    if (text !== undefined && text.length <= 4096 && JSON.stringify(JSON.parse(text)) === text) return value;
  } catch {
    // Falls through to the description.
  }
  return describeValue(value);
}

type Fields = Record<string, unknown>;
const text = (fields: Fields, key: string): string => String(fields[key] ?? '');

/** Rebuilds the error class behind a code, with its fields, so `SomeError.is()` holds on the client. */
const rebuilders: Record<string, (fields: Fields) => CairnError> = {
  INVALID_INPUT: (f) => new InvalidInputError({ field: text(f, 'field'), value: f.value, reason: text(f, 'reason') }),
  UNAUTHORIZED: (f) => new UnauthorizedError(text(f, 'message')),
  FORBIDDEN: (f) => new ForbiddenError({ route: '', requiredRole: text(f, 'requiredRole'), role: text(f, 'role') }),
  NOT_FOUND: (f) => new NotFoundError(text(f, 'message'), (f.lookup ?? {}) as Record<string, string>),
  RUN_NOT_FOUND: (f) => new RunNotFoundError({ runId: text(f, 'runId') || lookup(f).runId || '' }),
  STEP_NOT_FOUND: (f) => new StepNotFoundError(lookup(f) as { runId: string; stepId: string }),
  WAIT_NOT_FOUND: (f) => new WaitNotFoundError(lookup(f) as { runId: string; waitId: string }),
  EVENT_NOT_FOUND: (f) => new EventNotFoundError(lookup(f) as { runId: string; eventId: string }),
  HOOK_NOT_FOUND: (f) => new HookNotFoundError(lookup(f) as { token: string }),
  ENTITY_CONFLICT: (f) =>
    new EntityConflictError({
      runId: text(f, 'runId'),
      entity: f.entity as 'run',
      message: text(f, 'message'),
      ...(typeof f.correlationId === 'string' ? { correlationId: f.correlationId } : {}),
    }),
  FENCE_CONFLICT: (f) =>
    new FenceConflictError({
      runId: text(f, 'runId'),
      expectedEventId: (f.expectedEventId ?? null) as string | null,
      currentTail: f.currentTail as { eventId: string; seq: number },
    }),
  HOOK_TOKEN_CONFLICT: (f) =>
    new HookTokenConflictError({ token: text(f, 'token'), heldBy: f.heldBy as { runId: string; hookId: string } }),
  DUPLICATE_DELIVERY: (f) =>
    new DuplicateDeliveryError({
      runId: text(f, 'runId'),
      deliveryId: text(f, 'deliveryId'),
      hookId: text(f, 'hookId'),
    }),
  RUN_TERMINAL: (f) => new RunTerminalError({ runId: text(f, 'runId'), status: text(f, 'status') }),
  STREAM_CLOSED: (f) => new StreamClosedError({ runId: text(f, 'runId'), stream: text(f, 'stream') }),
  PAYLOAD_TOO_LARGE: (f) => new PayloadTooLargeError({ limitBytes: Number(f.limitBytes) }),
  WORLD_CLOSED: (f) => new WorldClosedError({ world: text(f, 'world') }),
  WORLD_UNAVAILABLE: (f) =>
    new WorldUnavailableError({ world: text(f, 'world'), location: text(f, 'location'), reason: text(f, 'message') }),
  WORLD_CORRUPTED: (f) => new WorldCorruptedError({ location: text(f, 'location'), detail: text(f, 'message') }),
};

function lookup(fields: Fields): Record<string, string> {
  return (fields.lookup ?? {}) as Record<string, string>;
}

/**
 * A success status whose body is not the server's answer: a sign-in page, a misrouted virtual
 * host, a url that is not a world server's. Unlike a gateway's 502, 503 or 504 this is no
 * sign of a server restarting, so it is not retryable: asking again gets the same page. Only
 * the status and content type are quoted, never the body.
 */
export function unexpectedAnswer(status: number, contentType: string | undefined): ProtocolError {
  const type = contentType === undefined || contentType === '' ? 'no content type' : contentType.slice(0, 100);
  return new ProtocolError({
    code: 'INTERNAL_ERROR',
    message: `The server answered ${status} (${type}) with a body that is not a world-http answer; check that the url points at a world server and that nothing in front of it answers instead`,
  });
}

/** Statuses a proxy or load balancer in front of the server answers while the server is down or restarting. */
const gatewayStatuses = new Set([502, 503, 504]);

/**
 * The error a response body describes, as the class the server threw, carrying the server's
 * message. An answer without a typed body did not come from the server: a 502, 503 or 504 is
 * then a proxy in front of it reporting it unreachable, which `origin` names, and is as
 * retryable as failing to reach the server at all.
 */
export function errorFromWire(
  status: number,
  body: unknown,
  origin: { world: string; location: string } = { world: 'http', location: 'the server' },
): CairnError {
  const fields = (body as { error?: Fields } | null)?.error;
  if (typeof fields !== 'object' || fields === null || typeof fields.code !== 'string') {
    if (gatewayStatuses.has(status)) {
      return new WorldUnavailableError({ ...origin, reason: `a proxy answered ${status} without a typed error` });
    }
    return new ProtocolError({
      code: 'INTERNAL_ERROR',
      message: `The server answered ${status} without a typed error`,
    });
  }
  const rebuild = rebuilders[fields.code];
  const error = rebuild
    ? rebuild(fields)
    : ProtocolError.isCode(fields.code)
      ? new ProtocolError({ code: fields.code, message: text(fields, 'message') })
      : new ProtocolError({ code: 'INTERNAL_ERROR', message: `${fields.code}: ${text(fields, 'message')}` });
  // The server's message is the one worth reading: it was built from the server's full state.
  if (typeof fields.message === 'string') {
    Object.defineProperty(error, 'message', { value: fields.message, writable: true, configurable: true });
  }
  return error;
}

/** A fault as its class and code only, for the server's log: a message can quote the payload that caused it. */
export function describeFault(error: unknown): string {
  if (!(error instanceof Error)) return typeof error;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' || typeof code === 'number' ? `${error.name} (code ${code})` : error.name;
}
