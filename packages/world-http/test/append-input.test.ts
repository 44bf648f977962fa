import { InvalidInputError } from '@cairn/core/world';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpWorld } from '../src/index.js';
import { survivesJson } from '../src/json-fidelity.js';
import { httpWorldInFront, localWorld } from './helpers.js';

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
}

/** Values JSON would change on the way to the server; each must be refused before it is sent. */
const altered: [string, unknown][] = [
  ['a Date', new Date(0)],
  ['an undefined property', { a: undefined }],
  ['an undefined array element', [1, undefined]],
  ['a hole in an array', new Array(2)],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['a Map', new Map([['a', 1]])],
  ['a Set', new Set([1])],
  ['a class instance', new Point(1, 2)],
  ['an object with toJSON', { toJSON: () => 'x' }],
  ['a symbol key', { [Symbol('s')]: 1, a: 1 }],
  ['a symbol', Symbol('s')],
  ['a function', () => 1],
  ['a bigint', 1n],
  ['a typed array', new Uint8Array(2)],
];

describe('world-http: JSON fidelity of appends', () => {
  it('survivesJson is true exactly for values JSON gives back unchanged', () => {
    const kept: unknown[] = [
      null,
      true,
      'text \u0000 \ud800',
      -1.5,
      [],
      {},
      [1, 'a', null, { b: [true] }],
      Object.assign(Object.create(null), { a: 1 }),
      { nested: { deeper: { list: [{ x: 1 }] } } },
    ];
    for (const value of kept) {
      expect(survivesJson(value)).toBe(true);
      expect(JSON.parse(JSON.stringify(value))).toEqual(value);
    }
    for (const [what, value] of altered) expect(survivesJson(value), what).toBe(false);
    // Not a plain array: left to the full checks (which accept it, as JSON sends it as one).
    expect(survivesJson(new (class extends Array {})())).toBe(false);
    // Deeper than the limit: left to the full checks rather than walked further.
    let deep: unknown = 1;
    for (let level = 0; level < 100; level++) deep = [deep];
    expect(survivesJson(deep)).toBe(false);
  });

  let world: HttpWorld;
  let runId: string;
  beforeAll(async () => {
    world = await httpWorldInFront(await localWorld());
    runId = (await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'fidelity' } }))
      .event.runId;
  });
  afterAll(() => world.close());

  it('refuses a step input JSON would change, naming the field, and writes nothing', async () => {
    for (const [what, value] of altered) {
      const attempt = world.events.create(runId, {
        eventType: 'step_created',
        correlationId: 'step-1',
        eventData: { stepName: 'work', input: value as never },
      });
      const error = await attempt.then(
        () => undefined,
        (thrown: unknown) => thrown,
      );
      expect(InvalidInputError.is(error), what).toBe(true);
      expect((error as InvalidInputError).field, what).toMatch(/^request\.eventData\.input/);
    }
    const params = { lastKnownEventId: 'evt_000000000001', createdAt: new Date() };
    await expect(
      world.events.createBatch(runId, [{ eventType: 'run_started' }], params as never),
    ).rejects.toMatchObject({ name: 'InvalidInputError', field: 'params.createdAt' });
    expect((await world.events.list(runId)).data).toHaveLength(1);
  });

  it('accepts an append whose only difference in JSON is an optional field left undefined', async () => {
    const [started] = await world.events.createBatch(runId, [{ eventType: 'run_started', correlationId: undefined }], {
      lastKnownEventId: 'evt_000000000001',
      createdAt: undefined,
    });
    expect(started?.event.seq).toBe(2);
  });
});
