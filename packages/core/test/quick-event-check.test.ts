import { describe, expect, it } from 'vitest';
import { createEventParamsSchema, createEventRequestSchema, limits, parseAppendInput } from '../src/world/index.js';
import { acceptEventRequestQuickly } from '../src/world/quick-event-check.js';
import { acceptEventParamsQuickly } from '../src/world/quick-params-check.js';

/*
 * The quick checks may only ever accept what the schemas accept, and must then give the
 * same value. These tests hold them to the schemas on the requests the engine writes and
 * on many thousands of mutations of them, valid and not.
 */

/** A small deterministic generator, so a failure names a case that can be run again. */
function randomSource(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = Math.imul(state ^ (state >>> 15), 1 | state);
    mixed = (mixed + Math.imul(mixed ^ (mixed >>> 7), 61 | mixed)) ^ mixed;
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
  const below = (count: number) => Math.floor(next() * count);
  const pick = <Item>(items: readonly Item[]): Item => items[below(items.length)]!;
  return { next, below, pick };
}
type Random = ReturnType<typeof randomSource>;

function nested(depth: number): unknown {
  let value: unknown = 'leaf';
  for (let level = 0; level < depth; level++) value = level % 2 === 0 ? [value] : { inner: value };
  return value;
}

const sparse: unknown[] = [];
sparse[2] = 1;
const withSymbol = { visible: 1, [Symbol('hidden')]: 2 };
const withHidden = Object.defineProperty({ visible: 1 }, 'hidden', { value: 2, enumerable: false });
const nullPrototype = Object.assign(Object.create(null), { plain: true });
class Instance {
  field = 1;
}

/** Payload values, JSON and not, the mutations draw from. */
const payloads: unknown[] = [
  'text',
  '',
  0,
  -0,
  1.5,
  -7,
  true,
  null,
  [],
  {},
  [1, 'two', null, { three: [3] }],
  { orderId: 'A-1', items: [{ sku: 'x', count: 2 }], gift: false },
  nested(limits.maxPayloadDepth),
  nested(limits.maxPayloadDepth + 1),
  JSON.parse('{"__proto__": {"polluted": true}}'),
  nullPrototype,
  Number.NaN,
  Number.POSITIVE_INFINITY,
  undefined,
  [undefined],
  sparse,
  withSymbol,
  withHidden,
  new Date(0),
  new Map([[1, 2]]),
  new Instance(),
  () => 1,
  Symbol('payload'),
  10n,
  'lone \ud800 surrogate',
  'nul \u0000 inside',
];

const strings: unknown[] = [
  'step_01',
  'a',
  '',
  'x'.repeat(limits.maxIdLength),
  'x'.repeat(limits.maxIdLength + 1),
  'x'.repeat(limits.maxDeliveryIdLength + 1),
  'has space',
  'tab\there',
  'nul\u0000',
  'lone \udc00',
  'ünïcödé',
  'caf\u00e9',
  42,
  null,
  undefined,
  ['array'],
];

const numbers: unknown[] = [0, 1, 1_700_000_000_000, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, '5', undefined];

/** The requests the engine writes on a run of steps, hooks and sleeps. */
const engineRequests: unknown[] = [
  { eventType: 'run_created', eventData: { workflowName: 'orders.fulfil', input: [{ orderId: 'A-1' }] } },
  {
    eventType: 'run_created',
    eventData: { workflowName: 'child', input: [], metadata: { tenant: 'acme' }, parentRunId: '01HZX3' },
  },
  { eventType: 'run_started' },
  { eventType: 'run_started', eventData: {} },
  { eventType: 'run_completed', eventData: { output: { receipt: 'r-1' } } },
  { eventType: 'run_completed', eventData: {} },
  { eventType: 'step_created', correlationId: 'step_1', eventData: { stepName: 'charge', input: [12, 'eur'] } },
  { eventType: 'step_created', correlationId: 'step_2', eventData: { stepName: 'ship', placement: 'queue' } },
  { eventType: 'step_started', correlationId: 'step_1' },
  { eventType: 'step_completed', correlationId: 'step_1', eventData: { output: 'charged' } },
  { eventType: 'step_completed', correlationId: 'step_1' },
  { eventType: 'hook_created', correlationId: 'hook_1', eventData: { token: 'tok_1' } },
  { eventType: 'hook_received', correlationId: 'hook_1', eventData: { payload: { ok: true }, deliveryId: 'd-1' } },
  { eventType: 'hook_disposed', correlationId: 'hook_1' },
  { eventType: 'wait_created', correlationId: 'wait_1', eventData: { resumeAt: 1_700_000_000_000 } },
  { eventType: 'wait_completed', correlationId: 'wait_1' },
];

/** Types the quick check must take on its own: the engine writes them on every step. */
const hotTypes = new Set(['run_started', 'run_completed', 'step_created', 'step_started', 'step_completed']);

/** One random change to a copy of `request`, at its top level or in its data. */
function mutate(request: Record<string, unknown>, random: Random): unknown {
  // Mutations replace whole fields, so copying the two levels they touch is enough.
  const copy = { ...request };
  const data = (typeof copy.eventData === 'object' && copy.eventData !== null ? copy.eventData : {}) as Record<
    string,
    unknown
  >;
  const dataKeys = Object.keys(data);
  switch (random.below(9)) {
    case 0:
      copy.eventType = random.pick(['step_created', 'run_started', 'run_failed', 'nope', 7, undefined]);
      break;
    case 1:
      copy.correlationId = random.pick(strings);
      break;
    case 2:
      if (random.next() < 0.5) delete copy.correlationId;
      else copy.extra = random.pick(payloads);
      break;
    case 3:
      copy.eventData = random.pick([undefined, null, {}, [], 'data', { unknown: 1 }, ...payloads.slice(0, 4)]);
      break;
    case 4:
      copy.eventData = { ...data, [random.pick([...dataKeys, 'output', 'input', 'payload'])]: random.pick(payloads) };
      break;
    case 5:
      copy.eventData = {
        ...data,
        [random.pick([...dataKeys, 'stepName', 'workflowName', 'deliveryId', 'token'])]: random.pick(strings),
      };
      break;
    case 6:
      copy.eventData = { ...data, [random.pick(['resumeAt', ...dataKeys])]: random.pick(numbers) };
      break;
    case 7:
      if (dataKeys.length > 0) {
        const trimmed = { ...data };
        delete trimmed[random.pick(dataKeys)];
        copy.eventData = trimmed;
      }
      break;
    default:
      copy.eventData = {
        ...data,
        [random.pick(['placement', 'metadata', 'parentRunId'])]: random.pick([
          'inline',
          'queue',
          'elsewhere',
          { tenant: 'acme' },
          { deep: nested(limits.maxPayloadDepth) },
          nested(limits.maxPayloadDepth),
          '01HZX3',
          '',
          ...payloads.slice(12, 24),
        ]),
      };
  }
  return random.next() < 0.2 ? mutate(copy, random) : copy;
}

/** Fails when the quick check accepted what the schema refuses, or gave a different value. */
function expectAgreement(value: unknown): 'quick' | 'schema' {
  const quick = acceptEventRequestQuickly(value);
  if (quick === undefined) return 'schema';
  const parsed = createEventRequestSchema.safeParse(value);
  expect(parsed.success, `quick check accepted ${String(JSON.stringify(value))?.slice(0, 200)}`).toBe(true);
  expect(JSON.stringify(quick)).toBe(JSON.stringify(parsed.data));
  return 'quick';
}

/**
 * The mutation runs are deterministic loops that take about 3 s on an idle machine and twice
 * that with the other packages' suites running beside them: the default 5 s would fail them
 * for the machine's load, not for anything they check.
 */
const mutationTimeoutMs = 60_000;

describe('quick event checks', () => {
  it('take every hot event type the engine writes, giving what the schema gives', () => {
    for (const request of engineRequests) {
      const verdict = expectAgreement(request);
      if (hotTypes.has((request as { eventType: string }).eventType)) expect(verdict).toBe('quick');
    }
  });

  it(
    'never accept a mutation the schema refuses, over 30,000 of them',
    () => {
      const random = randomSource(20261202);
      const verdicts = { quick: 0, schema: 0, refused: 0 };
      for (let index = 0; index < 30_000; index++) {
        const value = mutate(random.pick(engineRequests) as Record<string, unknown>, random);
        const verdict = expectAgreement(value);
        verdicts[verdict]++;
        if (verdict === 'schema' && !createEventRequestSchema.safeParse(value).success) verdicts.refused++;
      }
      // The sample must exercise both sides, or agreement would prove nothing.
      expect(verdicts.quick).toBeGreaterThan(3_000);
      expect(verdicts.refused).toBeGreaterThan(10_000);
    },
    mutationTimeoutMs,
  );

  it('hand back a copy the caller can no longer change', () => {
    const input = { orderId: 'A-1', items: [1, 2] };
    const request = { eventType: 'step_created', correlationId: 's1', eventData: { stepName: 'charge', input } };
    const accepted = acceptEventRequestQuickly(request) as unknown as { eventData: { input: typeof input } };
    input.items.push(3);
    input.orderId = 'B-2';
    expect(accepted.eventData.input).toEqual({ orderId: 'A-1', items: [1, 2] });
  });

  it('leave every refusal to the schema, which names the field', () => {
    const request = { eventType: 'step_created', correlationId: 's1', eventData: { stepName: '', input: 1 } };
    expect(acceptEventRequestQuickly(request)).toBeUndefined();
    expect(() => parseAppendInput('run_1', { request }, undefined, 1_000_000)).toThrow(/request\.eventData\.stepName/);
  });

  it('take the engine’s parameters, giving what the schema gives', () => {
    const cases: unknown[] = [
      undefined,
      {},
      { lastKnownEventId: '01HZX3-000001', createdAt: 1_700_000_000_000, enqueue: [] },
      { asOfTimestamp: 1.5 },
      ...engineParams,
      { lastKnownEventId: '' },
      { lastKnownEventId: 'x'.repeat(limits.maxIdLength + 1) },
      { createdAt: -1 },
      { createdAt: 1.5 },
      { asOfTimestamp: Number.NaN },
      { enqueue: 'none' },
      { enqueue: [{ topic: 'wake', payload: {}, options: { delayMs: 5 }, claim: { leaseMs: 100 } }] },
      { acknowledge: [{ topic: 'wake', messageId: 'm', token: '' }] },
      { unknown: true },
      null,
      [],
    ];
    let quick = 0;
    for (const params of cases) if (expectParamsAgreement(params) === 'quick') quick++;
    expect(quick).toBe(4 + engineParams.length);
  });

  it(
    'never accept parameters the schema refuses, over 30,000 mutations of them',
    () => {
      const random = randomSource(20261203);
      const verdicts = { quick: 0, schema: 0, refused: 0 };
      for (let index = 0; index < 30_000; index++) {
        const value = mutateParams(random.pick(engineParams), random);
        const verdict = expectParamsAgreement(value);
        verdicts[verdict]++;
        if (verdict === 'schema' && !createEventParamsSchema.safeParse(value).success) verdicts.refused++;
      }
      expect(verdicts.quick).toBeGreaterThan(3_000);
      expect(verdicts.refused).toBeGreaterThan(10_000);
    },
    mutationTimeoutMs,
  );

  it('hand back parameters the caller can no longer change', () => {
    const payload = { runId: 'r1', extra: [1] };
    const params = { enqueue: [{ topic: 'cairn.workflows', payload, options: { groupKey: 'r1' } }] };
    const accepted = acceptEventParamsQuickly(params)?.params;
    payload.extra.push(2);
    params.enqueue[0]!.options.groupKey = 'changed';
    expect(accepted?.enqueue?.[0]).toEqual({
      topic: 'cairn.workflows',
      payload: { runId: 'r1', extra: [1] },
      options: { groupKey: 'r1' },
    });
  });
});

/** The parameters the engine passes: a start's claimed wake, a step's message, a sleep's wake, a claim settled. */
const engineParams: Record<string, unknown>[] = [
  {
    createdAt: 1_700_000_000_000,
    enqueue: [
      {
        topic: 'cairn.workflows',
        payload: { runId: '01M8TSQ5VW388VX5H9K8VGNEB1' },
        options: { groupKey: '01M8TSQ5VW388VX5H9K8VGNEB1' },
        claim: { leaseMs: 300_000, messageId: 'msg_01M8TSQ5VWHETKK9HFAQGZ8Z5S', token: 'claim_01M8TSQ5VWJFWB96' },
      },
    ],
  },
  {
    lastKnownEventId: 'evt_000000000021',
    createdAt: 1_700_000_000_000,
    enqueue: [],
    acknowledge: [
      { topic: 'cairn.workflows', messageId: 'msg_01M8', token: 'claim_01M8', groupKey: '01M8TSQ5VW388VX5H9K8VGNEB1' },
    ],
  },
  {
    lastKnownEventId: 'evt_000000000004',
    enqueue: [
      { topic: 'cairn.steps', payload: { runId: 'r1', stepId: 'step:charge#0', attempt: 1 } },
      { topic: 'cairn.workflows', payload: { runId: 'r1' }, options: { delayMs: 60_000, groupKey: 'r1' } },
      { topic: 'cairn.children', payload: null, options: { idempotencyKey: 'child-1' }, claim: undefined },
    ],
  },
  { acknowledge: [{ topic: 'cairn.workflows', messageId: 'm1', token: 't1' }], enqueue: [{ topic: 'x', payload: 1 }] },
];

const topics: unknown[] = ['cairn.workflows', 'a:b_c-d.e', '', 'has space', 'ünï', 'x'.repeat(129), 7, undefined];
const claimIds: unknown[] = ['msg_1', '', 'x'.repeat(200), 'x'.repeat(201), 'with space ok', 5, null, undefined];
const wholeNumbers: unknown[] = [0, 9, 10, 5_000, 86_400_000, 86_400_001, 34_560_000_001, -1, 2.5, '10', undefined];

/** One random change to a copy of `params`, in a message, a claim, or the top level. */
function mutateParams(params: Record<string, unknown>, random: Random): unknown {
  const copy = { ...params };
  const messages = Array.isArray(copy.enqueue) ? [...(copy.enqueue as Record<string, unknown>[])] : [];
  const claims = Array.isArray(copy.acknowledge) ? [...(copy.acknowledge as Record<string, unknown>[])] : [];
  const message = (messages.length > 0 ? { ...messages[random.below(messages.length)] } : {}) as Record<
    string,
    unknown
  >;
  const settled = (claims.length > 0 ? { ...claims[random.below(claims.length)] } : {}) as Record<string, unknown>;
  const nestedIn = (value: unknown) => (typeof value === 'object' && value !== null ? { ...value } : {});
  switch (random.below(10)) {
    case 0:
      message.topic = random.pick(topics);
      messages.push(message);
      break;
    case 1:
      message.payload = random.pick(payloads);
      if (random.next() < 0.1) delete message.payload;
      messages.push(message);
      break;
    case 2: {
      const options: Record<string, unknown> = nestedIn(message.options);
      options[random.pick(['delayMs', 'idempotencyKey', 'groupKey', 'other'])] = random.pick([
        ...wholeNumbers,
        ...strings,
      ]);
      message.options = random.next() < 0.1 ? random.pick([null, 'opts', [], undefined]) : options;
      messages.push(message);
      break;
    }
    case 3: {
      const claim: Record<string, unknown> = nestedIn(message.claim);
      const field = random.pick(['leaseMs', 'messageId', 'token', 'other']);
      claim[field] = field === 'leaseMs' ? random.pick(wholeNumbers) : random.pick(claimIds);
      message.claim = random.next() < 0.1 ? random.pick([null, {}, 'claim', undefined]) : claim;
      messages.push(message);
      break;
    }
    case 4: {
      const field = random.pick(['topic', 'messageId', 'token', 'groupKey', 'other']);
      settled[field] = field === 'topic' ? random.pick(topics) : random.pick([...claimIds, ...strings]);
      claims.push(settled);
      break;
    }
    case 5:
      message[random.pick(['extra', 'options', 'claim'])] = random.pick(payloads);
      messages.push(message);
      break;
    case 6:
      copy[random.pick(['lastKnownEventId', 'createdAt', 'asOfTimestamp', 'other'])] = random.pick([
        ...strings,
        ...numbers,
      ]);
      break;
    case 7: {
      const field = random.pick(['enqueue', 'acknowledge']);
      const item = field === 'enqueue' ? { topic: 't', payload: 1 } : { topic: 't', messageId: 'm', token: 'k' };
      copy[field] = random.pick([
        undefined,
        null,
        'list',
        {},
        [],
        [undefined],
        sparse,
        new Array(1000).fill(item),
        new Array(1001).fill(item),
      ]);
      return copy;
    }
    case 8:
      if (messages.length > 0) messages.splice(random.below(messages.length), 1);
      if (claims.length > 0 && random.next() < 0.5) claims.splice(random.below(claims.length), 1);
      break;
    default:
      messages.push(random.pick([null, 'message', [], withSymbol, nullPrototype, new Instance()]) as never);
  }
  if (Array.isArray(copy.enqueue) || messages.length > 0) copy.enqueue = messages;
  if (Array.isArray(copy.acknowledge) || claims.length > 0) copy.acknowledge = claims;
  return random.next() < 0.2 ? mutateParams(copy, random) : copy;
}

/** Fails when the quick check accepted parameters the schema refuses, or gave a different value. */
function expectParamsAgreement(value: unknown): 'quick' | 'schema' {
  const quick = acceptEventParamsQuickly(value);
  if (quick === undefined) return 'schema';
  const parsed = createEventParamsSchema.safeParse(value);
  expect(parsed.success, `quick check accepted ${String(JSON.stringify(value))?.slice(0, 300)}`).toBe(true);
  expect(JSON.stringify(quick.params)).toBe(JSON.stringify(parsed.data));
  return 'quick';
}
