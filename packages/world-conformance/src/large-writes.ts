import type { QueueMessage } from '@cairn/core/world';
import { expect } from 'vitest';
import { type ConformanceOptions, deferred, readLog, section, startedRun, stepCreated, within } from './helpers.js';
import { consume } from './queue.js';

/** Many large writes at once: a World that commits concurrent writes together must bound what it holds. */
export function describeLargeWrites(options: ConformanceOptions): void {
  section(options, 'large-writes', 'large concurrent writes', (test) => {
    test('concurrent near-limit sends and appends all commit, and the World keeps working', async (scope) => {
      const { world } = scope;
      // Each payload as large as the World takes, up to 2 MiB; 24 of them in flight at once.
      const size = Math.min(world.capabilities.maxPayloadBytes - 4096, 2 * 1024 * 1024);
      const sends = 16;
      const appends = 8;
      const { runId } = await startedRun(world);
      const body = (index: number) => `${index}:`.padEnd(size - 64, 'x');
      const sent = Promise.all(
        Array.from({ length: sends }, (_, index) =>
          world.queue.send('conformance.large', { index, body: body(index) }),
        ),
      );
      const appended = Promise.all(
        Array.from({ length: appends }, (_, index) =>
          world.events.create(runId, stepCreated(`large-${index}`, 'large', body(index))),
        ),
      );
      const [sendResults, appendResults] = await within(
        Promise.all([sent, appended]),
        60_000,
        'every concurrent large write to be confirmed',
      );
      expect(sendResults.every((result) => !result.deduplicated)).toBe(true);
      expect(appendResults.map((result) => result.event.seq).sort((x, y) => x - y)).toEqual(
        Array.from({ length: appends }, (_, index) => index + 3),
      );

      const log = await readLog(world, runId);
      expect(log).toHaveLength(2 + appends);
      for (const event of log.slice(2)) {
        const input = (event.eventData as { input: string }).input;
        expect(input.length).toBe(size - 64);
      }
      const seen = new Map<number, number>();
      const all = deferred();
      consume(
        scope,
        'conformance.large',
        async (message: QueueMessage) => {
          const { index, body: text } = message.payload as { index: number; body: string };
          seen.set(index, text.length);
          if (seen.size === sends) all.resolve();
        },
        { concurrency: 4 },
      );
      await within(all.promise, 60_000, 'every large message to be delivered');
      expect([...seen.values()].every((length) => length === size - 64)).toBe(true);
      // Still answering small writes afterwards.
      expect((await world.events.create(runId, stepCreated('after'))).event.seq).toBe(3 + appends);
    }, 120_000);
  });
}
