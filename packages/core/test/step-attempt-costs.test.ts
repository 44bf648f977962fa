import { describe, expect, it } from 'vitest';
import { LazyAbort } from '../src/runtime/lazy-abort.js';
import { InvalidInputError, parseAppendInput } from '../src/world/index.js';
import { surelyFitsJson } from '../src/world/json-size-bound.js';
import type { JsonValue } from '../src/world/schemas/primitives.js';

describe('LazyAbort', () => {
  it('gives a signal already aborted with the reason when it is first read after the abort', () => {
    const abort = new LazyAbort();
    const reason = new Error('cancelled');
    abort.abort(reason);
    abort.abort(new Error('later'));
    expect(abort.aborted).toBe(true);
    expect(abort.signal.aborted).toBe(true);
    expect(abort.signal.reason).toBe(reason);
  });

  it('aborts a signal read before the abort, once', () => {
    const abort = new LazyAbort();
    const { signal } = abort;
    let fired = 0;
    signal.addEventListener('abort', () => fired++);
    expect(signal.aborted).toBe(false);
    abort.abort('stop');
    abort.abort('again');
    expect(fired).toBe(1);
    expect(signal.reason).toBe('stop');
    expect(abort.signal).toBe(signal);
  });

  it('follows a LazyAbort parent and an AbortSignal parent until told to stop', () => {
    const lazyParent = new LazyAbort();
    const signalParent = new AbortController();
    const following = [new LazyAbort(), new LazyAbort()];
    following[0]!.follow(lazyParent);
    following[1]!.follow(signalParent.signal);
    const stopped = [new LazyAbort(), new LazyAbort()];
    stopped[0]!.follow(lazyParent)();
    stopped[1]!.follow(signalParent.signal)();
    lazyParent.abort('run cancelled');
    signalParent.abort('worker stopping');
    expect(following.map((abort) => abort.reason)).toEqual(['run cancelled', 'worker stopping']);
    expect(stopped.map((abort) => abort.aborted)).toEqual([false, false]);
  });

  it('is aborted at once by a parent that already aborted', () => {
    const parent = new LazyAbort();
    parent.abort('gone');
    const child = new LazyAbort();
    child.follow(parent);
    expect(child.signal.reason).toBe('gone');
    const fromSignal = new LazyAbort();
    fromSignal.follow(AbortSignal.abort('also gone'));
    expect(fromSignal.reason).toBe('also gone');
  });
});

describe('surelyFitsJson', () => {
  const bytes = (value: JsonValue) => Buffer.byteLength(JSON.stringify(value));
  const awkward = ['', 'plain', '"\\', '\u0000\u001f\n', 'ünï 注文 😀', '\uD83D', 'x'.repeat(10_240)];

  it('never says a value fits when its JSON is larger than the budget', () => {
    let seed = 7;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const randomValue = (depth: number): JsonValue => {
      const pick = random();
      if (depth > 3 || pick < 0.3) return awkward[Math.floor(random() * awkward.length)]!;
      if (pick < 0.45)
        return [-1.7976931348623157e308, 0.0000012345678901234567, 5e-324, 1e21][Math.floor(random() * 4)]!;
      if (pick < 0.5) return random() < 0.5 ? null : true;
      if (pick < 0.75) return Array.from({ length: Math.floor(random() * 4) }, () => randomValue(depth + 1));
      return Object.fromEntries(
        Array.from({ length: Math.floor(random() * 4) }, (_, index) => [
          `${awkward[index]}${index}`,
          randomValue(depth + 1),
        ]),
      );
    };
    for (let index = 0; index < 2_000; index++) {
      const value = randomValue(0);
      const exact = bytes(value);
      for (const budget of [exact - 1, Math.floor(exact / 2), exact * 6 + 64]) {
        if (budget >= 0 && surelyFitsJson(value, budget)) expect(exact).toBeLessThanOrEqual(budget);
      }
    }
  });

  it('settles a 10 KB step result against a megabyte without counting, and leaves a near miss to the count', () => {
    const completed = {
      eventType: 'step_completed',
      correlationId: 'step-1',
      eventData: { output: 'x'.repeat(10_240) },
    };
    expect(surelyFitsJson(completed, 1024 * 1024)).toBe(true);
    expect(surelyFitsJson(completed, bytes(completed) + 10)).toBe(false);
  });

  it('leaves nesting deeper than it walks to the count', () => {
    let value: JsonValue = 1;
    for (let depth = 0; depth < 100; depth++) value = [value];
    expect(surelyFitsJson(value, 1024 * 1024)).toBe(false);
  });
});

describe('the append size limit, counted only when a bound cannot settle it', () => {
  const request = (output: string) => ({ eventType: 'step_completed', correlationId: 's1', eventData: { output } });
  const exactBytes = (output: string) => Buffer.byteLength(JSON.stringify([request(output)])) + 2;

  it('takes a batch of exactly the limit and refuses one byte more, however its text encodes', () => {
    for (const unit of ['x', 'ü', '注', '😀', '"', '\u0001']) {
      const output = unit.repeat(300);
      const limit = exactBytes(output);
      expect(parseAppendInput('run_1', { requests: [request(output)] }, undefined, limit).requests).toHaveLength(1);
      expect(() => parseAppendInput('run_1', { requests: [request(output)] }, undefined, limit - 1)).toThrow(
        InvalidInputError,
      );
    }
  });
});
