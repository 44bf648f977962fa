import { describe, expect, it } from 'vitest';
import {
  assertStorableJson,
  assertStorableValue,
  InvalidInputError,
  isWellFormedText,
  nameSchema,
  parseInput,
  readStreamOptionsSchema,
  seqSchema,
  streamChunkDataSchema,
  streamNameSchema,
} from '../src/world/index.js';

const refused = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    if (InvalidInputError.is(error)) return error;
    throw error;
  }
  return expect.fail('expected InvalidInputError');
};

describe('text every World can store', () => {
  it('tells lone surrogates from pairs', () => {
    expect(isWellFormedText('plain, ünï, 😀, 注文')).toBe(true);
    expect(isWellFormedText('\uD83D')).toBe(false);
    expect(isWellFormedText('\uDE00')).toBe(false);
    expect(isWellFormedText('a\uD83Db\uDE00')).toBe(false);
    expect(isWellFormedText('\uDE00\uD83D')).toBe(false);
    expect(isWellFormedText('😀\uD83D')).toBe(false);
  });

  it('names refuse NUL and lone surrogates and keep other text', () => {
    expect(refused(() => parseInput(nameSchema, 'a\u0000b', 'workflowName')).reason).toContain('NUL');
    expect(refused(() => parseInput(nameSchema, 'a\uD800', 'workflowName')).reason).toContain('surrogate');
    expect(refused(() => parseInput(streamNameSchema, 'a\uDFFF', 'name')).field).toBe('name');
    expect(parseInput(nameSchema, 'étape ✓ 😀', 'stepName')).toBe('étape ✓ 😀');
  });

  it('text chunks must be well-formed; bytes may be anything', () => {
    expect(refused(() => parseInput(streamChunkDataSchema, 'a\uD83D', 'chunk')).field).toBe('chunk');
    expect(parseInput(streamChunkDataSchema, 'a😀\u0000', 'chunk')).toBe('a😀\u0000');
    const bytes = new Uint8Array([0xed, 0xa0, 0x80]);
    expect(parseInput(streamChunkDataSchema, bytes, 'chunk')).toBe(bytes);
  });

  it('finds lone surrogates in serialised JSON, and only there', () => {
    const check = (value: unknown) => assertStorableJson(JSON.stringify(value), 'payload', value);
    expect(refused(() => check({ deep: ['x', { y: 'a\uD800' }] })).field).toBe('payload');
    expect(refused(() => check('\\\uDC00')).field).toBe('payload');
    // An escaped backslash followed by the letters of an escape is text, not a surrogate.
    expect(() => check('\\ud800 is text')).not.toThrow();
    expect(() => check('\\\\ud800')).not.toThrow();
    expect(() => check({ emoji: '😀', nul: '\u0000' })).not.toThrow();
  });

  it('refuses the same payloads whether it is given the value or its JSON', () => {
    const pieces = ['a', '\uD83D', '\uDE00', '😀', '\\', '"', 'ud800', '\u0000'];
    let seed = 11;
    const pick = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return pieces[seed % pieces.length]!;
    };
    const text = () => Array.from({ length: 4 }, pick).join('');
    const outcome = (check: () => void) => {
      try {
        check();
        return 'stored';
      } catch (error) {
        return InvalidInputError.is(error) ? `refused ${error.field}` : 'threw';
      }
    };
    for (let index = 0; index < 500; index++) {
      const value = { [text()]: [text(), { nested: text() }], plain: index };
      expect(outcome(() => assertStorableValue(value, 'payload', value))).toBe(
        outcome(() => assertStorableJson(JSON.stringify(value), 'payload', value)),
      );
    }
    expect(refused(() => assertStorableValue({ ['key\uD800']: 1 }, 'requests', 'shown')).field).toBe('requests');
  });

  it('positions are bounded by 2^31 - 1 in both directions', () => {
    expect(parseInput(seqSchema, 2 ** 31 - 1, 'afterSeq')).toBe(2 ** 31 - 1);
    expect(refused(() => parseInput(seqSchema, 2 ** 31, 'afterSeq')).field).toBe('afterSeq');
    expect(refused(() => parseInput(readStreamOptionsSchema, { fromIndex: -(2 ** 31) }, 'options')).field).toBe(
      'options.fromIndex',
    );
  });
});
