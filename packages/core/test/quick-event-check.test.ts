import { describe, expect, it } from 'vitest';
import { createEventParamsSchema, createEventRequestSchema, limits, parseAppendInput } from '../src/world/index.js';
import { acceptEventParamsQuickly, acceptEventRequestQuickly } from '../src/world/quick-event-check.js';

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

describe('quick event checks', () => {
  it('take every hot event type the engine writes, giving what the schema gives', () => {
    for (const request of engineRequests) {
      const verdict = expectAgreement(request);
      if (hotTypes.has((request as { eventType: string }).eventType)) expect(verdict).toBe('quick');
    }
  });

  it('never accept a mutation the schema refuses, over 30,000 of them', () => {
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
  });

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

  it('take the engine’s parameters and defer anything with messages or claims to the schema', () => {
    const cases: unknown[] = [
      undefined,
      {},
      { lastKnownEventId: '01HZX3-000001', createdAt: 1_700_000_000_000, enqueue: [] },
      { asOfTimestamp: 1.5 },
      { lastKnownEventId: '' },
      { lastKnownEventId: 'x'.repeat(limits.maxIdLength + 1) },
      { createdAt: -1 },
      { createdAt: 1.5 },
      { asOfTimestamp: Number.NaN },
      { enqueue: [{ topic: 'wake', payload: {}, options: {} }] },
      { enqueue: 'none' },
      { acknowledge: [] },
      { unknown: true },
      null,
      [],
    ];
    let quick = 0;
    for (const params of cases) {
      const accepted = acceptEventParamsQuickly(params);
      if (accepted === undefined) continue;
      quick++;
      const parsed = createEventParamsSchema.safeParse(params);
      expect(parsed.success, JSON.stringify(params)).toBe(true);
      expect(JSON.stringify(accepted.params)).toBe(JSON.stringify(parsed.data));
    }
    expect(quick).toBe(4);
  });
});
