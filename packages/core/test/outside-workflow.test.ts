import { describe, expect, it } from 'vitest';
import {
  CairnError,
  createHook,
  getRunMetadata,
  getWritable,
  InvalidInputError,
  map,
  NotInWorkflowError,
  now,
  random,
  sleep,
  startChild,
  step,
  uuid,
  workflow,
} from '../src/index.js';

const child = workflow('outside.child', async () => 1);

describe('primitives called outside a workflow', () => {
  const calls: [string, () => unknown][] = [
    ['sleep()', () => sleep(10)],
    ['createHook()', () => createHook()],
    ['now()', () => now()],
    ['random()', () => random()],
    ['uuid()', () => uuid()],
    ['startChild()', () => startChild(child, undefined)],
    ['getRunMetadata()', () => getRunMetadata()],
    ['getWritable()', () => getWritable()],
  ];

  for (const [api, call] of calls) {
    it(`${api} throws NotInWorkflowError with a stable code, naming the call`, () => {
      let thrown: unknown;
      try {
        call();
      } catch (error) {
        thrown = error;
      }
      expect(NotInWorkflowError.is(thrown)).toBe(true);
      expect(CairnError.is(thrown)).toBe(true);
      expect(thrown).toMatchObject({ code: 'NOT_IN_WORKFLOW', api, retryable: false });
      expect((thrown as Error).message).toContain(api);
      expect((thrown as NotInWorkflowError).toJSON()).toMatchObject({ code: 'NOT_IN_WORKFLOW', api });
    });
  }

  it('sleep(NaN) is still refused outside a workflow, and the duration check names NaN', () => {
    expect(() => sleep(Number.NaN)).toThrow(NotInWorkflowError);
    expect(new InvalidInputError({ field: 'sleep(duration)', value: Number.NaN, reason: 'x' }).message).toContain(
      '(got NaN)',
    );
    expect(new InvalidInputError({ field: 'f', value: new Date(Number.NaN), reason: 'x' }).message).toContain(
      '(got Invalid Date)',
    );
  });

  it('a step called outside a workflow is a plain call', async () => {
    const double = step('outside.double', async (value: number) => value * 2);
    expect(await double(21)).toBe(42);
  });
});

describe('map outside a workflow', () => {
  it('is a plain concurrency limiter', async () => {
    expect(await map([1, 2, 3], async (value) => value * 2, { maxConcurrency: 2 })).toEqual([2, 4, 6]);
  });

  it('returns a rejected promise for bad arguments instead of throwing', async () => {
    const bad: (() => Promise<unknown>)[] = [
      () => map([1], async () => 1, { maxConcurrency: 0 }),
      () => map('not an array' as never, async () => 1),
      () => map([1], 'not a function' as never),
    ];
    for (const call of bad) {
      let returned: Promise<unknown> | undefined;
      expect(() => {
        returned = call();
      }).not.toThrow();
      await expect(returned).rejects.toSatisfy(InvalidInputError.is);
    }
  });
});
