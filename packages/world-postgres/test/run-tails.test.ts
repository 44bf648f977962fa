import { describe, expect, it } from 'vitest';
import { RunTails } from '../src/run-tails.js';

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
});
