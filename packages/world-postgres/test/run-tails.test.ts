import { describe, expect, it } from 'vitest';
import { formatTail, parseTail, RunTails } from '../src/run-tails.js';

describe('RunTails', () => {
  it('follows from the newest of a read and a notification that overtook it', () => {
    const tails = new RunTails();
    const generation = tails.generation;
    // The read saw seq 2, but seq 3's notification was handled before the read's answer.
    tails.notified('run-1', { lastSeq: 3, status: 'running' });
    tails.follow('run-1', { lastSeq: 2, status: 'running' }, generation);
    expect(tails.get('run-1')).toEqual({ lastSeq: 3, status: 'running' });
  });

  it('forgets notifications from before the listener reconnected', () => {
    const tails = new RunTails();
    tails.notified('run-1', { lastSeq: 3, status: 'running' });
    tails.forgetAll();
    tails.follow('run-1', { lastSeq: 2, status: 'running' }, tails.generation);
    expect(tails.get('run-1')).toEqual({ lastSeq: 2, status: 'running' });
  });

  it('reads back the tail a notification carries, and nothing from a detail that is not one', () => {
    for (const tail of [
      { lastSeq: 0, status: 'pending' as const },
      { lastSeq: 12, status: 'running' as const },
      { lastSeq: 2_147_483_647, status: 'completed' as const },
    ]) {
      expect(parseTail(formatTail(tail))).toEqual(tail);
    }
    expect(parseTail('12')).toBeUndefined();
    expect(parseTail('12 ')).toBeUndefined();
    expect(parseTail('twelve running')).toBeUndefined();
    expect(parseTail('1.5 running')).toBeUndefined();
    // A detail with more after the status keeps the part a tail has.
    expect(parseTail('7 failed later')).toEqual({ lastSeq: 7, status: 'failed' });
  });
});
