import { WorldClosedError } from '@cairn/core/world';
import { expect } from 'vitest';
import {
  type ConformanceOptions,
  deferred,
  expectError,
  runCreated,
  section,
  startedRun,
  stepCreated,
  within,
} from './helpers.js';
import { consume } from './queue.js';

/** A few macrotask turns: room for a close() that wrongly did not wait to resolve. */
async function someTurns(): Promise<void> {
  for (let turn = 0; turn < 10; turn += 1) await new Promise((resolve) => setImmediate(resolve));
}

/** close(): idempotent, waits for handlers, ends live reads, and refuses later calls. */
export function describeLifecycle(options: ConformanceOptions): void {
  section(options, 'lifecycle', 'closing a World', (test) => {
    test('close is idempotent and every later call rejects with WorldClosedError', async ({ world }) => {
      const { runId, tail } = await startedRun(world);
      await world.close();
      await world.close();
      const calls: [string, () => Promise<unknown>][] = [
        ['events.create', () => world.events.create(null, runCreated())],
        ['events.createBatch', () => world.events.createBatch(runId, [stepCreated('s1')])],
        ['events.list', () => world.events.list(runId)],
        ['events.get', () => world.events.get(runId, tail)],
        ['runs.get', () => world.runs.get(runId)],
        ['runs.list', () => world.runs.list()],
        ['steps.list', () => world.steps.list(runId)],
        ['hooks.getByToken', () => world.hooks.getByToken('any')],
        ['waits.list', () => world.waits.list(runId)],
        ['queue.send', () => world.queue.send('conformance.closed', 1)],
        ['streams.write', () => world.streams.write(runId, 'out', 'x')],
        ['streams.list', () => world.streams.list(runId)],
        [
          'streams.read',
          async () => {
            for await (const _ of world.streams.read(runId, 'out')) break;
          },
        ],
      ];
      for (const [what, call] of calls) {
        const error = await expectError(within(call(), 5000, what), WorldClosedError);
        expect(error.message.length, what).toBeGreaterThan(0);
      }
    });

    test('close waits for in-flight handlers and ends live stream reads', async (scope) => {
      const { world } = scope;
      const { runId } = await startedRun(world);
      const started = deferred();
      const release = deferred();
      scope.defer(() => release.resolve());
      let finished = false;
      consume(scope, 'conformance.closing', async () => {
        started.resolve();
        await release.promise;
        finished = true;
      });
      await world.queue.send('conformance.closing', 'parked');
      await within(started.promise, 5000, 'the delivery');

      await world.streams.write(runId, 'open', 'first');
      const firstChunk = deferred();
      const reading = (async () => {
        for await (const _ of world.streams.read(runId, 'open')) firstChunk.resolve();
      })();
      // A read that ends with WorldClosedError instead of quietly is also a fair ending.
      const readEnded = reading.then(
        () => undefined,
        (error: unknown) => {
          if (!WorldClosedError.is(error)) throw error;
        },
      );
      await within(firstChunk.promise, 5000, 'the reader to catch up');

      let closed = false;
      const closing = world.close().then(() => {
        closed = true;
      });
      await someTurns();
      expect(closed, 'close() must wait for the handler still running').toBe(false);
      release.resolve();
      await within(closing, 5000, 'close() after the handler settled');
      expect(finished).toBe(true);
      await within(readEnded, 5000, 'the live read to end when the World closed');
    });

    test('close waits for the handlers of a consumer whose stop() is still waiting', async (scope) => {
      const { world } = scope;
      const started = deferred();
      const release = deferred();
      scope.defer(() => release.resolve());
      let finished = false;
      const consumer = consume(scope, 'conformance.stopping', async () => {
        started.resolve();
        await release.promise;
        finished = true;
      });
      await world.queue.send('conformance.stopping', 'parked');
      await within(started.promise, 5000, 'the delivery');

      // A caller that stops its consumer without awaiting the stop, then closes the World:
      // the handler is still in flight, so close() must still wait for it.
      const stopping = consumer.stop();
      let closed = false;
      const closing = world.close().then(() => {
        closed = true;
      });
      // Closing a World does I/O of its own (files, sockets) that can outlast a few turns, so
      // this window is a time: close() must not resolve while the handler is still parked.
      await Promise.race([closing, new Promise((resolve) => setTimeout(resolve, 300))]);
      expect(closed, 'close() must wait for the handler of a consumer still stopping').toBe(false);
      release.resolve();
      await within(closing, 5000, 'close() after the handler settled');
      expect(finished).toBe(true);
      await within(stopping, 5000, 'the consumer stop()');
    });
  });
}
