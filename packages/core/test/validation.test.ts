import { describe, expect, it } from 'vitest';
import {
  type CreateEventRequest,
  createEventRequestSchema,
  type EventType,
  eventSchema,
  eventTypes,
  InvalidInputError,
  parseInput,
} from '../src/world/index.js';

/** Parses `value` as a create-event request and returns the InvalidInputError it must throw. */
function rejection(value: unknown): InvalidInputError {
  let caught: unknown;
  try {
    parseInput(createEventRequestSchema, value, 'request');
  } catch (error) {
    caught = error;
  }
  expect(InvalidInputError.is(caught), `expected an InvalidInputError, got ${String(caught)}`).toBe(true);
  return caught as InvalidInputError;
}

const error = { name: 'Error', message: 'card declined', code: 'E_DECLINED', data: { attempt: 2 } };

/** One valid request per event type; the keys must be exactly `eventTypes`. */
const validRequests: Record<EventType, CreateEventRequest> = {
  run_created: {
    eventType: 'run_created',
    eventData: {
      workflowName: 'fulfil',
      input: { orderId: 'A-1', items: [1, 2, 3], gift: false, note: null },
      metadata: { tenant: 'acme' },
      parentRunId: 'run_parent_1',
    },
  },
  run_started: { eventType: 'run_started' },
  run_completed: { eventType: 'run_completed', eventData: { output: { receipt: 'r-1' } } },
  run_failed: { eventType: 'run_failed', eventData: { error } },
  run_cancelled: { eventType: 'run_cancelled', eventData: { reason: 'customer asked' } },
  run_waiting: {
    eventType: 'run_waiting',
    eventData: {
      reason: 'workflow-not-registered',
      message: 'no worker that took this run has workflow "fulfil"',
      workerWorkflows: ['refund'],
    },
  },
  step_created: { eventType: 'step_created', correlationId: 'step:charge#0', eventData: { stepName: 'charge' } },
  step_started: { eventType: 'step_started', correlationId: 'step:charge#0' },
  step_completed: { eventType: 'step_completed', correlationId: 'step:charge#0', eventData: { output: 1234 } },
  step_failed: { eventType: 'step_failed', correlationId: 'step:charge#0', eventData: { error } },
  step_retrying: {
    eventType: 'step_retrying',
    correlationId: 'step:charge#0',
    eventData: { error, retryAfter: 1_700_000_000_000 },
  },
  hook_created: {
    eventType: 'hook_created',
    correlationId: 'hook:approve#0',
    eventData: { token: 'approve:A-1', metadata: { by: 'ops' } },
  },
  hook_received: { eventType: 'hook_received', correlationId: 'hook:approve#0', eventData: { payload: { ok: true } } },
  hook_disposed: { eventType: 'hook_disposed', correlationId: 'hook:approve#0' },
  wait_created: {
    eventType: 'wait_created',
    correlationId: 'wait:sleep#0',
    eventData: { resumeAt: 1_700_000_060_000 },
  },
  wait_completed: { eventType: 'wait_completed', correlationId: 'wait:sleep#0' },
};

const stepCreated = (input: unknown) => ({
  eventType: 'step_created',
  correlationId: 'step:ship#0',
  eventData: { stepName: 'ship', input },
});

describe('parseInput(createEventRequestSchema)', () => {
  it('has a valid example for each of the 16 event types', () => {
    expect(eventTypes).toHaveLength(16);
    expect(Object.keys(validRequests).sort()).toEqual([...eventTypes].sort());
  });

  it.each(Object.entries(validRequests))('accepts a valid %s request unchanged', (_, request) => {
    expect(parseInput(createEventRequestSchema, request, 'request')).toEqual(request);
  });

  it('accepts the optional eventData of data-less event types as an empty object too', () => {
    for (const request of [
      { eventType: 'run_started', eventData: {} },
      { eventType: 'run_cancelled' },
      { eventType: 'step_completed', correlationId: 's' },
      { eventType: 'hook_received', correlationId: 'h' },
      { eventType: 'wait_completed', correlationId: 'w', eventData: {} },
    ]) {
      expect(() => parseInput(createEventRequestSchema, request, 'request')).not.toThrow();
    }
  });

  it('names an unknown event type', () => {
    const invalid = rejection({ eventType: 'step_exploded', correlationId: 'step:x#0' });
    expect(invalid.field).toBe('request.eventType');
    expect(invalid.value).toBe('step_exploded');
    expect(invalid.reason).toBe('is not a known event type');
    expect(invalid.message).toContain('request.eventType');
    expect(invalid.message).toContain('step_exploded');
  });

  it('names a missing event type', () => {
    const invalid = rejection({ correlationId: 'step:x#0' });
    expect(invalid.field).toBe('request.eventType');
    expect(invalid.value).toBeUndefined();
  });

  it('names a missing correlationId on step_created as required', () => {
    const invalid = rejection({ eventType: 'step_created', eventData: { stepName: 'charge' } });
    expect(invalid.field).toBe('request.correlationId');
    expect(invalid.value).toBeUndefined();
    expect(invalid.reason).toBe('is required');
    expect(invalid.message).toContain('request.correlationId');
    expect(invalid.message).toContain('is required');
  });

  it('names a missing required eventData field', () => {
    const invalid = rejection({ eventType: 'wait_created', correlationId: 'wait:a#0', eventData: {} });
    expect(invalid.field).toBe('request.eventData.resumeAt');
    expect(invalid.reason).toBe('is required');
  });

  it("takes a hook delivery's id next to its payload, and names a bad one", () => {
    const received = (deliveryId: unknown) => ({
      eventType: 'hook_received',
      correlationId: 'hook:approve#0',
      eventData: { payload: 1, deliveryId },
    });
    for (const deliveryId of ['01HZX3V2J6Q8K9M0N1P2R3S4T5', 'order 42 ✓', 'x'.repeat(128)]) {
      expect(parseInput(createEventRequestSchema, received(deliveryId), 'request')).toEqual(received(deliveryId));
    }
    for (const deliveryId of ['', 'x'.repeat(129), 'a\u0000b', 7]) {
      const invalid = rejection(received(deliveryId));
      expect(invalid.field).toBe('request.eventData.deliveryId');
      expect(invalid.value).toBe(deliveryId);
    }
  });

  it('names an unknown run_waiting reason and an empty message', () => {
    const unknownReason = rejection({
      eventType: 'run_waiting',
      eventData: { reason: 'no-idea', message: 'why not' },
    });
    expect(unknownReason.field).toBe('request.eventData.reason');
    expect(unknownReason.value).toBe('no-idea');
    const emptyMessage = rejection({
      eventType: 'run_waiting',
      eventData: { reason: 'workflow-not-registered', message: '' },
    });
    expect(emptyMessage.field).toBe('request.eventData.message');
    expect(emptyMessage.reason).toBe('must not be empty');
  });

  it('refuses a correlationId on a run-level event', () => {
    const invalid = rejection({ eventType: 'run_started', correlationId: 'step:x#0' });
    expect(invalid.field).toBe('request.correlationId');
    expect(invalid.value).toBe('step:x#0');
  });

  it.each([
    ['request.eventData.stepName', { eventType: 'step_created', correlationId: 's', eventData: { stepName: 42 } }, 42],
    [
      'request.eventData.resumeAt',
      { eventType: 'wait_created', correlationId: 'w', eventData: { resumeAt: 'tomorrow' } },
      'tomorrow',
    ],
    [
      'request.eventData.resumeAt',
      { eventType: 'wait_created', correlationId: 'w', eventData: { resumeAt: 1.5 } },
      1.5,
    ],
    ['request.correlationId', { eventType: 'step_started', correlationId: 7 }, 7],
    ['request.eventData', { eventType: 'run_failed', eventData: 'boom' }, 'boom'],
    [
      'request.eventData.error.message',
      { eventType: 'step_failed', correlationId: 's', eventData: { error: { name: 'Error', message: false } } },
      false,
    ],
  ])('names a wrongly typed %s and its value', (field, request, value) => {
    const invalid = rejection(request);
    expect(invalid.field).toBe(field);
    expect(invalid.value).toEqual(value);
    expect(invalid.message).toContain(field);
    expect(invalid.message).toContain(JSON.stringify(value));
  });

  it('names a request that is not an object at all', () => {
    for (const value of [null, 'step_created', 42, [] as unknown[]]) {
      const invalid = rejection(value);
      expect(invalid.field).toBe('request');
      expect(invalid.value).toBe(value);
    }
  });

  it('names an over-long hook token with its full path', () => {
    const token = 't'.repeat(257);
    const invalid = rejection({ eventType: 'hook_created', correlationId: 'hook:a#0', eventData: { token } });
    expect(invalid.field).toBe('request.eventData.token');
    expect(invalid.value).toBe(token);
    expect(invalid.reason).toContain('256');
    expect(invalid.message).toContain('request.eventData.token');
    // A 256-character token is still fine.
    expect(() =>
      parseInput(
        createEventRequestSchema,
        { eventType: 'hook_created', correlationId: 'hook:a#0', eventData: { token: 't'.repeat(256) } },
        'request',
      ),
    ).not.toThrow();
  });

  it('names a hook token with a space', () => {
    const invalid = rejection({ eventType: 'hook_created', correlationId: 'h', eventData: { token: 'a b' } });
    expect(invalid.field).toBe('request.eventData.token');
    expect(invalid.value).toBe('a b');
  });

  it('names an unknown extra field by its full path', () => {
    const nested = rejection({
      eventType: 'step_created',
      correlationId: 'step:a#0',
      eventData: { stepName: 'charge', colour: 'red' },
    });
    expect(nested.field).toBe('request.eventData.colour');
    expect(nested.value).toBe('red');
    expect(nested.reason).toBe('is not a known field');
    expect(nested.message).toContain('request.eventData.colour');

    const topLevel = rejection({ eventType: 'run_started', lastKnownEventId: 'evt_000000000001' });
    expect(topLevel.field).toBe('request.lastKnownEventId');
    expect(topLevel.value).toBe('evt_000000000001');

    const inError = rejection({
      eventType: 'run_failed',
      eventData: { error: { name: 'Error', message: 'x', retriable: true } },
    });
    expect(inError.field).toBe('request.eventData.error.retriable');
    expect(inError.value).toBe(true);
  });

  /*
   * A payload must round-trip through JSON. The error names the offending value itself, by
   * its full path inside the payload, not the whole payload: "input" alone would not tell
   * a user which of a thousand fields was a Date.
   */
  const handler = function onDone() {};
  const when = new Date(0);
  const index = new Map([['a', 1]]);
  it.each([
    ['a function', { orderId: 'A-1', onDone: handler }, 'request.eventData.input.onDone', handler],
    ['a Date', { orderId: 'A-1', when }, 'request.eventData.input.when', when],
    ['undefined in an array', { items: [1, undefined, 3] }, 'request.eventData.input.items.1', undefined],
    ['NaN', { total: Number.NaN }, 'request.eventData.input.total', Number.NaN],
    [
      'Infinity deep inside',
      { lines: [{ qty: 1 }, { qty: Number.POSITIVE_INFINITY }] },
      'request.eventData.input.lines.1.qty',
      Number.POSITIVE_INFINITY,
    ],
    ['a bigint', { cents: 10n }, 'request.eventData.input.cents', 10n],
    ['a Map', { index }, 'request.eventData.input.index', index],
  ])('names a non-JSON payload value (%s) by its full path', (_, input, field, value) => {
    const invalid = rejection(stepCreated(input));
    expect(invalid.field).toBe(field);
    expect(invalid.value).toBe(value);
    expect(invalid.message).toContain(field);
  });

  it('names a non-JSON value given as the whole payload', () => {
    const invalid = rejection(stepCreated(handler));
    expect(invalid.field).toBe('request.eventData.input');
    expect(invalid.value).toBe(handler);
    expect(invalid.message).toContain('[function onDone]');
  });

  it('accepts any JSON value as a payload', () => {
    for (const input of [null, 0, -1.5, '', 'text', true, [], {}, { a: [{ b: null }, [1, 'x']] }]) {
      expect(parseInput(createEventRequestSchema, stepCreated(input), 'request')).toEqual(stepCreated(input));
    }
  });

  it('uses the field prefix it is given', () => {
    let caught: unknown;
    try {
      parseInput(createEventRequestSchema, { eventType: 'nope' }, 'requests.3');
    } catch (error) {
      caught = error;
    }
    expect(InvalidInputError.is(caught)).toBe(true);
    expect((caught as InvalidInputError).field).toBe('requests.3.eventType');
  });
});

describe('eventSchema (stored events)', () => {
  const stored = {
    ...validRequests.step_created,
    runId: 'run_01JABCDEF',
    seq: 3,
    eventId: 'evt_000000000003',
    createdAt: 1_700_000_000_123,
  };

  it('parses a stored event', () => {
    expect(eventSchema.parse(stored)).toEqual(stored);
  });

  it.each(Object.entries(validRequests))('parses a stored %s event', (_, request) => {
    const event = { ...request, runId: 'run_1', seq: 1, eventId: 'evt_000000000001', createdAt: 0 };
    expect(eventSchema.safeParse(event).success).toBe(true);
  });

  it('rejects seq 0, a negative or fractional seq, and a missing commit field', () => {
    expect(eventSchema.safeParse({ ...stored, seq: 0 }).success).toBe(false);
    expect(eventSchema.safeParse({ ...stored, seq: -1 }).success).toBe(false);
    expect(eventSchema.safeParse({ ...stored, seq: 1.5 }).success).toBe(false);
    for (const field of ['runId', 'seq', 'eventId', 'createdAt'] as const) {
      const { [field]: _, ...missing } = stored;
      expect(eventSchema.safeParse(missing).success, `without ${field}`).toBe(false);
    }
    expect(eventSchema.safeParse({ ...stored, eventId: '' }).success).toBe(false);
    expect(eventSchema.safeParse({ ...stored, createdAt: -1 }).success).toBe(false);
  });

  it('still applies the request rules to a stored event', () => {
    expect(eventSchema.safeParse({ ...stored, eventType: 'step_exploded' }).success).toBe(false);
    expect(eventSchema.safeParse({ ...stored, correlationId: undefined }).success).toBe(false);
    expect(eventSchema.safeParse({ ...stored, extra: 1 }).success).toBe(false);
  });

  it('parseInput reports a stored event with seq 0 by its field', () => {
    let caught: unknown;
    try {
      parseInput(eventSchema, { ...stored, seq: 0 }, 'event');
    } catch (error) {
      caught = error;
    }
    expect(InvalidInputError.is(caught)).toBe(true);
    expect((caught as InvalidInputError).field).toBe('event.seq');
    expect((caught as InvalidInputError).value).toBe(0);
  });
});
