import {
  type CairnError,
  DuplicateDeliveryError,
  EntityConflictError,
  EventNotFoundError,
  FenceConflictError,
  HookNotFoundError,
  HookTokenConflictError,
  InvalidInputError,
  RunNotFoundError,
  RunTerminalError,
  StepNotFoundError,
  StreamClosedError,
  WaitNotFoundError,
  WorldClosedError,
  WorldUnavailableError,
} from '@cairn/core/world';
import { describe, expect, it } from 'vitest';
import { errorFromWire, errorToWire } from '../src/error-mapping.js';
import { ForbiddenError, PayloadTooLargeError, ProtocolError, UnauthorizedError } from '../src/index.js';

const tail = { eventId: 'evt_000000000007', seq: 7 };
const cases: [CairnError, number, { is(error: unknown): boolean }][] = [
  [
    new InvalidInputError({ field: 'request.eventType', value: 'x', reason: 'is not a known event type' }),
    400,
    InvalidInputError,
  ],
  [new UnauthorizedError(), 401, UnauthorizedError],
  [new ForbiddenError({ route: 'queue.send', requiredRole: 'worker', role: 'read' }), 403, ForbiddenError],
  [new RunNotFoundError({ runId: 'r1' }), 404, RunNotFoundError],
  [new StepNotFoundError({ runId: 'r1', stepId: 's1' }), 404, StepNotFoundError],
  [new WaitNotFoundError({ runId: 'r1', waitId: 'w1' }), 404, WaitNotFoundError],
  [new EventNotFoundError({ runId: 'r1', eventId: 'e1' }), 404, EventNotFoundError],
  [new HookNotFoundError({ token: 't' }), 404, HookNotFoundError],
  [
    new EntityConflictError({ runId: 'r1', entity: 'step', correlationId: 's1', message: 'twice' }),
    409,
    EntityConflictError,
  ],
  [new HookTokenConflictError({ token: 't', heldBy: { runId: 'r2', hookId: 'h' } }), 409, HookTokenConflictError],
  [new DuplicateDeliveryError({ runId: 'r3', deliveryId: 'd-1', hookId: 'h2' }), 409, DuplicateDeliveryError],
  [new StreamClosedError({ runId: 'r1', stream: 'out' }), 409, StreamClosedError],
  [new RunTerminalError({ runId: 'r1', status: 'completed' }), 410, RunTerminalError],
  [
    new FenceConflictError({ runId: 'r1', expectedEventId: 'evt_000000000006', currentTail: tail }),
    412,
    FenceConflictError,
  ],
  [new PayloadTooLargeError({ limitBytes: 1024 }), 413, PayloadTooLargeError],
  [new WorldClosedError({ world: 'local:/x' }), 503, WorldClosedError],
  [new WorldUnavailableError({ world: 'pg', location: 'db:5432', reason: 'down' }), 503, WorldUnavailableError],
  [new ProtocolError({ code: 'SESSION_NOT_FOUND', message: 'gone' }), 404, ProtocolError],
];

describe('world-http: errors on the wire', () => {
  it.each(cases)('%s keeps its status, class, code, message and fields', (error, status, errorClass) => {
    const wire = errorToWire(error);
    expect(wire.status).toBe(status);
    const rebuilt = errorFromWire(wire.status, JSON.parse(JSON.stringify({ error: wire.body })));
    expect(errorClass.is(rebuilt)).toBe(true);
    expect(rebuilt.code).toBe(error.code);
    expect(rebuilt.message).toBe(error.message);
    expect(rebuilt.retryable).toBe(error.retryable);
    expect(rebuilt.toJSON()).toEqual(JSON.parse(JSON.stringify(error.toJSON())));
  });

  it('a fence conflict keeps the current tail, and a subclass still answers to its parent', () => {
    const wire = errorToWire(new FenceConflictError({ runId: 'r1', expectedEventId: null, currentTail: tail }));
    const rebuilt = errorFromWire(wire.status, { error: wire.body }) as FenceConflictError;
    expect(rebuilt.currentTail).toEqual(tail);
    expect(EntityConflictError.is(rebuilt)).toBe(true);
  });

  it('an unknown fault is a bare 500 that reveals nothing', () => {
    const wire = errorToWire(new TypeError('secret detail from inside the server'));
    expect(wire.status).toBe(500);
    expect(JSON.stringify(wire.body)).not.toContain('secret');
    expect(ProtocolError.is(errorFromWire(500, { error: wire.body }))).toBe(true);
  });
});
