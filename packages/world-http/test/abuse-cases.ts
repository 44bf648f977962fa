import { Readable } from 'node:stream';
import { tokens } from './helpers.js';

export interface AbuseCase {
  what: string;
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH';
  path: string;
  headers: Record<string, string>;
  body?: string | Buffer | Readable;
  /** The statuses that are a correct refusal. */
  expect: number[];
}

const worker = { authorization: `Bearer ${tokens.worker}`, 'content-type': 'application/json' };
const reader = { authorization: `Bearer ${tokens.read}`, 'content-type': 'application/json' };

const writeRoutes = [
  'events.create',
  'events.createBatch',
  'queue.send',
  'queue.subscribe',
  'queue.ack',
  'queue.nack',
  'queue.extend',
  'queue.extendClaim',
  'queue.settleClaim',
  'queue.unsubscribe',
  'queue.poll',
  'streams.write',
  'streams.close',
];
const readRoutes = [
  'events.list',
  'events.get',
  'runs.get',
  'runs.list',
  'steps.list',
  'hooks.getByToken',
  'streams.list',
];

const pick = <Item>(items: readonly Item[], index: number): Item => items[index % items.length]!;

/** Pseudo-random but reproducible text of `length` characters. */
function garbage(seed: number, length: number): string {
  let text = '';
  let state = seed * 2654435761;
  for (let index = 0; index < length; index++) {
    state = (state * 1103515245 + 12345) >>> 0;
    text += String.fromCharCode(32 + (state % 95));
  }
  return text;
}

/** Requests the World would accept if they arrived whole, to cut short. */
function validBodies(runId: string): string[] {
  return [
    JSON.stringify({
      runId,
      request: { eventType: 'step_created', correlationId: 's1', eventData: { stepName: 'x' } },
    }),
    JSON.stringify({ runId: null, request: { eventType: 'run_created', eventData: { workflowName: 'w' } } }),
    JSON.stringify({ topic: 'jobs', payload: { amount: 10 } }),
    JSON.stringify({ runId, name: 'out', chunk: { text: 'hello' } }),
  ];
}

/** Each maker builds one malformed request; the index varies the details. */
export function abuseCases(runId: string): ((index: number) => AbuseCase)[] {
  const whole = validBodies(runId);
  const wrongTypes: [string, unknown][] = [
    ['events.create', { runId: 42, request: { eventType: 'run_started' } }],
    ['events.create', { runId, request: 'run_started' }],
    [
      'events.create',
      { runId, request: { eventType: 'step_created', correlationId: 7, eventData: { stepName: 'x' } } },
    ],
    [
      'events.create',
      { runId, request: { eventType: 'wait_created', correlationId: 'w', eventData: { resumeAt: 'soon' } } },
    ],
    ['events.create', { runId, request: { eventType: 'run_started' }, params: { lastKnownEventId: 5 } }],
    ['events.create', { runId, request: { eventType: 'run_started' }, extra: true }],
    ['events.createBatch', { runId, requests: {} }],
    ['events.createBatch', { runId, requests: [] }],
    ['events.createBatch', { runId, requests: [null] }],
    ['queue.send', { topic: 5, payload: 1 }],
    ['queue.send', { topic: 'with space', payload: 1 }],
    ['queue.send', { topic: 'jobs', payload: 1, options: { delayMs: -1 } }],
    ['queue.send', { topic: 'jobs', payload: 1, options: { groupKey: '' } }],
    ['queue.subscribe', { topic: 'jobs', options: { concurrency: 0 } }],
    ['queue.ack', { sessionId: 'nope', deliveryId: 'nope' }],
    [
      'queue.settleClaim',
      { claim: { topic: 'with space', messageId: 'm', token: 't' }, outcome: { acknowledge: true } },
    ],
    ['queue.settleClaim', { claim: { topic: 'jobs', messageId: 'm', token: 't' }, outcome: { retryAfterMs: -1 } }],
    ['queue.settleClaim', { claim: { topic: 'jobs', messageId: 'm', token: 't' }, outcome: { acknowledge: 'yes' } }],
    ['queue.extendClaim', { claim: 5, leaseMs: 100 }],
    ['queue.extendClaim', { claim: { topic: 'jobs', messageId: 'm', token: 't' }, leaseMs: 0 }],
    ['queue.poll', { sessionId: 12 }],
    ['streams.write', { runId, name: 'out', chunk: { text: 5 } }],
    ['streams.write', { runId, name: 'out', chunk: 'plain' }],
    ['streams.write', { runId, name: 'out', chunk: { base64: '***' } }],
    ['streams.write', { runId, name: '', chunk: { text: 'x' } }],
    ['streams.close', { runId: ['x'], name: 'out' }],
    ['events.list', { runId, options: { limit: 0 } }],
    ['events.get', { runId }],
    ['runs.list', { options: { cursor: { evil: true } } }],
    ['events.watch', { runId, afterSeq: -1 }],
    ['events.watch', { runId, afterSeq: 0, waitMs: 'long' }],
  ];
  return [
    // Bad JSON.
    (index) => ({
      what: 'garbage body',
      method: 'POST',
      path: `/v1/${pick(writeRoutes, index)}`,
      headers: worker,
      body: `{${garbage(index, 1 + (index % 200))}`,
      expect: [400],
    }),
    (index) => ({
      what: 'invalid UTF-8',
      method: 'POST',
      path: `/v1/${pick(writeRoutes, index)}`,
      headers: worker,
      body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]),
      expect: [400],
    }),
    (index) => ({
      what: 'empty body',
      method: 'POST',
      path: `/v1/${pick(writeRoutes, index)}`,
      headers: worker,
      expect: [400],
    }),
    (index) => ({
      what: 'a JSON array, string or null instead of an object',
      method: 'POST',
      path: `/v1/${pick(writeRoutes, index)}`,
      headers: worker,
      body: pick(['[]', '"x"', 'null', '42', 'true'], index),
      expect: [400],
    }),
    // Wrong types.
    (index) => {
      const [route, body] = pick(wrongTypes, index);
      return {
        what: `wrong types on ${route}: ${JSON.stringify(body)}`,
        method: 'POST',
        path: `/v1/${route}`,
        headers: worker,
        body: JSON.stringify(body),
        // A session the server never opened is a typed 404, whatever else is wrong.
        expect: route === 'queue.ack' || route === 'queue.poll' ? [404] : [400],
      };
    },
    // Truncated bodies: a valid request cut short.
    (index) => {
      const body = pick(whole, index);
      return {
        what: 'truncated body',
        method: 'POST',
        path: pick(['/v1/events.create', '/v1/events.create', '/v1/queue.send', '/v1/streams.write'], index),
        headers: worker,
        body: body.slice(0, 1 + (index % (body.length - 1))),
        expect: [400],
      };
    },
    // Oversized bodies, declared up front or streamed in chunks with no declared length.
    (index) => ({
      what: 'oversized body with a content-length',
      method: 'POST',
      path: '/v1/queue.send',
      headers: worker,
      body: JSON.stringify({ topic: 'jobs', payload: 'x'.repeat(70 * 1024 + index) }),
      expect: [413],
    }),
    (index) => ({
      what: 'oversized chunked body',
      method: 'POST',
      path: '/v1/streams.write',
      headers: worker,
      body: Readable.from(
        (function* () {
          for (let chunk = 0; chunk < 10 + (index % 5); chunk++) yield Buffer.alloc(8 * 1024, 0x61);
        })(),
      ),
      expect: [413],
    }),
    // Unknown paths and methods.
    (index) => ({
      what: 'unknown path',
      method: 'POST',
      path: pick(
        ['/v1/events.drop', '/v2/events.create', '/', '/admin', '/v1/', `/v1/${garbage(index, 12)}`],
        index,
      ).replace(/[#?%\s]/g, 'x'),
      headers: worker,
      body: '{}',
      expect: [404],
    }),
    (index) => ({
      what: 'wrong method',
      method: pick(['GET', 'PUT', 'DELETE', 'PATCH'] as const, index),
      path: `/v1/${pick([...writeRoutes, ...readRoutes], index)}`,
      headers: worker,
      expect: [405],
    }),
    // Missing, wrong and read-only tokens.
    (index) => ({
      what: 'no token',
      method: 'POST',
      path: `/v1/${pick(writeRoutes, index)}`,
      headers: { 'content-type': 'application/json' },
      body: pick(whole, index),
      expect: [401],
    }),
    (index) => ({
      what: 'wrong or malformed token',
      method: 'POST',
      path: `/v1/${pick(writeRoutes, index)}`,
      headers: {
        authorization: pick(
          [
            `Bearer ${tokens.worker}x`,
            `Bearer ${tokens.worker.slice(1)}`,
            'Bearer',
            `Basic ${tokens.worker}`,
            `bearer ${tokens.worker}`,
            'Bearer  two spaces',
          ],
          index,
        ),
        'content-type': 'application/json',
      },
      body: pick(whole, index),
      expect: [401],
    }),
    (index) => ({
      what: 'read-only token writing',
      method: 'POST',
      path: `/v1/${pick(writeRoutes, index)}`,
      headers: reader,
      body: pick(whole, index),
      expect: [403],
    }),
    (index) => ({
      what: 'webhook with a token createWebhook never minted',
      method: 'POST',
      path: `/v1/webhooks/${pick(['approve:order-42', 'wh_short', `wh_${'A'.repeat(43)}`], index)}`,
      headers: { 'content-type': 'application/json' },
      body: '{"ok":true}',
      expect: [404],
    }),
  ];
}
