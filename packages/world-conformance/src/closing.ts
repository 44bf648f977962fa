import { WorldClosedError } from '@cairn/core/world';
import { expect } from 'vitest';
import { type ConformanceOptions, deferred, expectError, section, startedRun, within } from './helpers.js';
import { consume } from './queue.js';

/** A wait that ends when the World closes may resolve or reject with WorldClosedError; nothing else. */
function endedByClose(wait: Promise<unknown>): Promise<void> {
  return wait.then(
    () => undefined,
    (error: unknown) => {
      if (!WorldClosedError.is(error)) throw error;
    },
  );
}

/** close() while something is waiting live: it ends the wait instead of waiting for it. */
export function describeClosing(options: ConformanceOptions): void {
  section(options, 'lifecycle', 'closing during live waits', (test) => {
    test('close ends a pending events.watch promptly', async ({ world }) => {
      const { runId, results } = await startedRun(world);
      const watching = endedByClose(world.events.watch(runId, results.at(-1)!.event.seq));
      await within(world.close(), 3000, 'close() with a watch pending');
      await within(watching, 3000, 'the watch to end when the World closed');
    });

    test('close does not hang on a queue handler parked in events.watch', async (scope) => {
      const { world } = scope;
      const { runId, results } = await startedRun(world);
      const started = deferred();
      const handlerEnded = deferred();
      consume(scope, 'conformance.close-watch', async () => {
        started.resolve();
        try {
          // Waits for an event nobody will append: only close() can end this.
          await world.events.watch(runId, results.at(-1)!.event.seq);
        } finally {
          handlerEnded.resolve();
        }
      });
      await world.queue.send('conformance.close-watch', 'park');
      await within(started.promise, 5000, 'the delivery');
      await within(world.close(), 3000, 'close() with a handler parked in events.watch');
      expect(handlerEnded.settled(), 'the handler ended before close() resolved').toBe(true);
    });

    test('close ends a live read of a stream that does not exist yet', async ({ world }) => {
      const { runId } = await startedRun(world);
      const reading = endedByClose(
        (async () => {
          for await (const _ of world.streams.read(runId, 'never-written')) expect.fail('no chunk was written');
        })(),
      );
      // Let the read reach its wait before closing.
      await world.streams.list(runId);
      await within(world.close(), 3000, 'close() with a read waiting for its stream');
      await within(reading, 3000, 'the read to end when the World closed');
    });

    test('consume after close throws WorldClosedError', async ({ world }) => {
      await world.close();
      await expectError(() => {
        const consumer = world.queue.consume('conformance.after-close', async () => {});
        // A World that returned a consumer anyway must not leave it running.
        void consumer.stop();
      }, WorldClosedError);
    });
  });
}
