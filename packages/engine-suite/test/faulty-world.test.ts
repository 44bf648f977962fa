import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { World } from '@cairn/core/world';
import { afterAll, describe, expect, it } from 'vitest';
import { faultyWorld, noWorldFaults } from '../src/fuzz/faulty-world.js';

/**
 * A World's parts built as classes, the way world-http builds its client: the methods live
 * on the prototypes and use `this`. Only what the wrapper passes through is here.
 */
class ClassQueue {
  readonly sent: unknown[] = [];
  async send(topic: string, payload: unknown) {
    this.sent.push({ topic, payload });
    return { messageId: `m${this.sent.length}` };
  }
  async settleClaim() {
    return this.sent.length > 0;
  }
}
class ClassEvents {
  readonly watched: unknown[][] = [];
  async watch(...args: unknown[]) {
    this.watched.push(args);
    return undefined;
  }
}
class ClassWorld {
  readonly name = 'class-world';
  // Frozen, as world-http freezes its parts: a proxy of the part itself could not answer for them.
  readonly queue = Object.freeze(new ClassQueue());
  readonly events = Object.freeze(new ClassEvents());
  closed = false;
  async close() {
    this.closed = true;
  }
}

const directories: string[] = [];
afterAll(() => Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true }))));

describe('the fuzzer’s World wrapper', () => {
  for (const [label, faults] of [
    ['without faults', noWorldFaults],
    ['with faults', { failSendProbability: 0, delayAppendMaxMs: 1 }],
  ] as const) {
    it(`keeps a class-built World’s methods and every argument, ${label}`, async () => {
      directories.push(await mkdtemp(join(tmpdir(), 'cairn-faulty-')));
      const inner = new ClassWorld();
      const world = faultyWorld(inner as unknown as World, faults, 1, directories.at(-1)!);
      await world.queue.send('topic', { runId: 'r1' });
      expect(inner.queue.sent).toEqual([{ topic: 'topic', payload: { runId: 'r1' } }]);
      expect(
        await world.queue.settleClaim?.({ topic: 'topic', messageId: 'm1', token: 't' }, { acknowledge: true }),
      ).toBe(true);
      const signal = new AbortController().signal;
      await world.events.watch('r1', 3, signal, { untilEnded: true });
      expect(inner.events.watched).toEqual([['r1', 3, signal, { untilEnded: true }]]);
      expect(world.name).toBe('class-world');
      expect('settleClaim' in world.queue && 'watch' in world.events).toBe(true);
      // A wrapper around the wrapper may copy it: the prototype's methods come along, bound.
      const copied = { ...world.queue };
      await copied.send('again', null);
      expect(inner.queue.sent).toHaveLength(2);
      await world.close();
      expect(inner.closed).toBe(true);
    });
  }
});
