import {
  type CreateEventRequest,
  RunNotFoundError,
  type StreamChunk,
  StreamClosedError,
  streamInfoSchema,
  type World,
} from '@cairn/core/world';
import { expect } from 'vitest';
import { type ConformanceOptions, deferred, expectError, freshRunId, section, startedRun, within } from './helpers.js';

/** Reads a stream to its end (it must be closed, or this waits). */
async function readAll(world: World, runId: string, name: string, fromIndex?: number): Promise<StreamChunk[]> {
  const chunks: StreamChunk[] = [];
  for await (const chunk of world.streams.read(runId, name, fromIndex === undefined ? undefined : { fromIndex })) {
    chunks.push(chunk);
  }
  return chunks;
}

const writerCount = 20;
const chunksPerWriter = 100;
const chunkPattern = /^w(\d{2}):c(\d{3})\|$/;

/** Durable streams: concurrency, reading from any index, live follow, types, closing. */
export function describeStreams(options: ConformanceOptions): void {
  section(options, 'streams', 'streams', (test) => {
    test('a write repeated with the same idempotency key lands once, even when the repeats race', async ({ world }) => {
      const { runId } = await startedRun(world);
      const first = await world.streams.write(runId, 'once', 'alpha', { idempotencyKey: 'chunk-1' });
      const racing = await Promise.all(
        Array.from({ length: 5 }, () => world.streams.write(runId, 'once', 'alpha', { idempotencyKey: 'chunk-1' })),
      );
      for (const repeat of racing) expect(repeat.index).toBe(first.index);
      // Keys belong to one stream: the same key elsewhere is a different chunk.
      await world.streams.write(runId, 'other', 'alpha', { idempotencyKey: 'chunk-1' });
      const second = await world.streams.write(runId, 'once', 'beta', { idempotencyKey: 'chunk-2' });
      expect(second.index).toBe(first.index + 1);
      await world.streams.close(runId, 'once');
      // A repeat after close still answers with the original index instead of failing.
      expect((await world.streams.write(runId, 'once', 'beta', { idempotencyKey: 'chunk-2' })).index).toBe(
        second.index,
      );
      const chunks = await within(readAll(world, runId, 'once'), 10_000, 'reading the stream');
      expect(chunks.map((chunk) => chunk.data)).toEqual(['alpha', 'beta']);
    });

    test(`${writerCount} concurrent writers x ${chunksPerWriter} chunks: none lost, duplicated, split or reordered`, async ({
      world,
    }) => {
      const { runId } = await startedRun(world);
      const name = 'fan-in';
      const written = new Map<number, string>();
      await Promise.all(
        Array.from({ length: writerCount }, async (_, writer) => {
          let previous = -1;
          for (let chunk = 0; chunk < chunksPerWriter; chunk += 1) {
            const text = `w${String(writer).padStart(2, '0')}:c${String(chunk).padStart(3, '0')}|`;
            const { index } = await world.streams.write(runId, name, text);
            // Each writer's chunks land in the order it wrote them.
            expect(index).toBeGreaterThan(previous);
            previous = index;
            expect(written.has(index), `index ${index} handed out twice`).toBe(false);
            written.set(index, text);
          }
        }),
      );
      await world.streams.close(runId, name);

      const total = writerCount * chunksPerWriter;
      const chunks = await within(readAll(world, runId, name), 10_000, 'reading the closed stream');
      expect(chunks).toHaveLength(total);
      expect(chunks.map((chunk) => chunk.index)).toEqual(Array.from({ length: total }, (_, index) => index));
      const nextPerWriter = new Array<number>(writerCount).fill(0);
      for (const chunk of chunks) {
        expect(typeof chunk.data).toBe('string');
        expect(chunk.data).toBe(written.get(chunk.index));
        const match = chunkPattern.exec(chunk.data as string);
        expect(match, `chunk ${chunk.index} is whole: ${String(chunk.data)}`).not.toBeNull();
        const writer = Number(match![1]);
        expect(Number(match![2]), `writer ${writer}'s chunks in order`).toBe(nextPerWriter[writer]);
        nextPerWriter[writer]! += 1;
      }
      expect(nextPerWriter).toEqual(new Array(writerCount).fill(chunksPerWriter));
      const [info] = await world.streams.list(runId);
      expect(info).toMatchObject({ name, chunkCount: total, closed: true });
    }, 60_000);

    test('reads start at any index; a negative one counts back from the tail', async ({ world }) => {
      const { runId } = await startedRun(world);
      for (let index = 0; index < 10; index += 1) await world.streams.write(runId, 'tail', `c${index}`);
      await world.streams.close(runId, 'tail');
      const indexes = async (fromIndex?: number) =>
        (await within(readAll(world, runId, 'tail', fromIndex), 5000, `read from ${fromIndex}`)).map(
          (chunk) => chunk.index,
        );
      expect(await indexes(-3)).toEqual([7, 8, 9]);
      expect(await indexes(-1)).toEqual([9]);
      expect(await indexes(5)).toEqual([5, 6, 7, 8, 9]);
      expect(await indexes()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      expect(await indexes(10)).toEqual([]);
      const lastThree = await readAll(world, runId, 'tail', -3);
      expect(lastThree.map((chunk) => chunk.data)).toEqual(['c7', 'c8', 'c9']);
    });

    test('a live reader receives chunks as they are written and ends when the stream closes', async ({ world }) => {
      const { runId } = await startedRun(world);
      const received: StreamChunk[] = [];
      const waiters = new Map<number, () => void>();
      // Started before the stream exists: the read waits for it.
      const reading = (async () => {
        for await (const chunk of world.streams.read(runId, 'live')) {
          received.push(chunk);
          waiters.get(received.length)?.();
        }
      })();
      for (let index = 0; index < 5; index += 1) {
        const arrived = deferred();
        waiters.set(index + 1, () => arrived.resolve());
        await world.streams.write(runId, 'live', `tick-${index}`);
        // Each chunk reaches the reader before the next one is even written.
        await within(arrived.promise, 5000, `live chunk ${index}`);
        expect(received.map((chunk) => chunk.data)).toEqual(Array.from({ length: index + 1 }, (_, at) => `tick-${at}`));
      }
      await world.streams.close(runId, 'live');
      await within(reading, 5000, 'the live reader to finish after close');
      expect(received.map((chunk) => chunk.index)).toEqual([0, 1, 2, 3, 4]);
    });

    test('with streams.closedWithRun, the append that ends a run closes its open streams and ends their reads', async (scope) => {
      const { world } = scope;
      if (world.capabilities.streams.closedWithRun !== true) {
        scope.skipBecause('capabilities.streams.closedWithRun is not true (the engine closes streams itself)');
      }
      const endings: CreateEventRequest[] = [
        { eventType: 'run_completed', eventData: { output: 1 } },
        { eventType: 'run_failed', eventData: { error: { name: 'Error', message: 'boom' } } },
        { eventType: 'run_cancelled', eventData: {} },
      ];
      for (const ending of endings) {
        const { runId } = await startedRun(world);
        await world.streams.write(runId, 'open', 'one');
        await world.streams.write(runId, 'done', 'two');
        await world.streams.close(runId, 'done');
        const reading = readAll(world, runId, 'open');
        await world.events.create(runId, ending);
        const chunks = await within(reading, 5000, `a live read to end once ${ending.eventType} committed`);
        expect(chunks.map((chunk) => chunk.data)).toEqual(['one']);
        const streams = await world.streams.list(runId);
        expect(streams.map((stream) => [stream.name, stream.closed, stream.chunkCount])).toEqual([
          ['open', true, 1],
          ['done', true, 1],
        ]);
      }
    });

    test('with streams.closedWithRun, a run that has ended takes no write, not even to a stream it never had', async (scope) => {
      const { world } = scope;
      if (world.capabilities.streams.closedWithRun !== true) {
        scope.skipBecause('capabilities.streams.closedWithRun is not true (the engine closes streams itself)');
      }
      // A step body that was still running when its run ended (the loser of a race, say)
      // must not leave behind a stream that opens after the end: nothing would close it,
      // and its readers would wait forever.
      const { runId } = await startedRun(world);
      await world.streams.write(runId, 'before', 'one');
      await world.events.create(runId, { eventType: 'run_completed', eventData: { output: 1 } });
      for (const name of ['before', 'after']) {
        const error = await expectError(world.streams.write(runId, name, 'late'), StreamClosedError);
        expect(error).toMatchObject({ runId, stream: name });
      }
      const streams = await world.streams.list(runId);
      expect(streams.map((stream) => [stream.name, stream.closed, stream.chunkCount])).toEqual([['before', true, 1]]);

      // Writes racing the end: each lands before it (and is closed with the run) or is refused.
      const racing = await startedRun(world);
      const writes = Array.from({ length: 20 }, (_, index) =>
        world.streams.write(racing.runId, `racer-${index}`, 'x').then(
          () => 'written',
          (error: unknown) => {
            if (!StreamClosedError.is(error)) throw error;
            return 'refused';
          },
        ),
      );
      await world.events.create(racing.runId, { eventType: 'run_completed', eventData: { output: 2 } });
      const outcomes = await Promise.all(writes);
      const left = await world.streams.list(racing.runId);
      expect(left.filter((stream) => !stream.closed).map((stream) => stream.name)).toEqual([]);
      expect(left.length).toBe(outcomes.filter((outcome) => outcome === 'written').length);
    });

    test('with streams.closedWithRun, a read of a stream its ended run never had ends, empty', async (scope) => {
      const { world } = scope;
      if (world.capabilities.streams.closedWithRun !== true) {
        scope.skipBecause('capabilities.streams.closedWithRun is not true (the engine closes streams itself)');
      }
      // Read after the end: a mistyped name on a finished run must not wait forever.
      const { runId } = await startedRun(world);
      await world.events.create(runId, { eventType: 'run_completed', eventData: { output: 1 } });
      expect(await within(readAll(world, runId, 'never'), 5000, 'a read of a stream the ended run never had')).toEqual(
        [],
      );
      // Read before the end: the reader waits for the stream, then finishes when the run
      // ends without it (a World may notice within its polling interval).
      const waiting = await startedRun(world);
      const reading = readAll(world, waiting.runId, 'never');
      await world.events.create(waiting.runId, { eventType: 'run_cancelled', eventData: {} });
      expect(await within(reading, 15_000, 'a waiting read to end once the run ended without its stream')).toEqual([]);
    });

    test('text comes back as strings and binary as Uint8Array with identical bytes', async ({ world }) => {
      const { runId } = await startedRun(world);
      const text = 'héllo ✓ 𝄞 "quoted"\n';
      const binary = new Uint8Array([0, 1, 2, 127, 128, 200, 255, 0]);
      // Bytes that happen to be valid UTF-8 are still binary: the type is part of the chunk.
      const textLikeBytes = new TextEncoder().encode('looks like text');
      await world.streams.write(runId, 'mixed', text);
      await world.streams.write(runId, 'mixed', binary);
      await world.streams.write(runId, 'mixed', textLikeBytes);
      await world.streams.close(runId, 'mixed');
      const [first, second, third] = await readAll(world, runId, 'mixed');
      expect(first!.data).toBe(text);
      expect(second!.data).toBeInstanceOf(Uint8Array);
      expect([...(second!.data as Uint8Array)]).toEqual([...binary]);
      expect(third!.data).toBeInstanceOf(Uint8Array);
      expect([...(third!.data as Uint8Array)]).toEqual([...textLikeBytes]);
      for (const chunk of [first!, second!, third!]) expect(Number.isInteger(chunk.createdAt)).toBe(true);
    });

    test('a write after close is StreamClosedError and adds nothing; close is idempotent', async ({ world }) => {
      const { runId } = await startedRun(world);
      await world.streams.write(runId, 'done', 'only');
      await world.streams.close(runId, 'done');
      await world.streams.close(runId, 'done');
      const error = await expectError(world.streams.write(runId, 'done', 'late'), StreamClosedError);
      expect(error).toMatchObject({ runId, stream: 'done' });
      expect((await readAll(world, runId, 'done')).map((chunk) => chunk.data)).toEqual(['only']);
      // Closing a stream that was never written creates it, empty and closed.
      await world.streams.close(runId, 'empty');
      expect(await within(readAll(world, runId, 'empty'), 5000, 'reading an empty closed stream')).toEqual([]);
    });

    test('streams.list reports each stream of the run in creation order', async ({ world }) => {
      const { runId } = await startedRun(world);
      const other = await startedRun(world);
      await world.streams.write(runId, 'first', 'a');
      await world.streams.write(runId, 'first', 'b');
      await world.streams.close(runId, 'first');
      await world.streams.write(runId, 'second', new Uint8Array([1]));
      await world.streams.close(runId, 'third');
      // Same name in another run: a separate stream.
      await world.streams.write(other.runId, 'first', 'elsewhere');
      const infos = await world.streams.list(runId);
      expect(infos.map(({ name, chunkCount, closed }) => ({ name, chunkCount, closed }))).toEqual([
        { name: 'first', chunkCount: 2, closed: true },
        { name: 'second', chunkCount: 1, closed: false },
        { name: 'third', chunkCount: 0, closed: true },
      ]);
      for (const info of infos) expect(streamInfoSchema.safeParse(info).success).toBe(true);
      expect(await world.streams.list(other.runId)).toMatchObject([{ name: 'first', chunkCount: 1, closed: false }]);
    });

    test('streams of an unknown run are RunNotFoundError', async ({ world }) => {
      const ghost = freshRunId('ghost');
      await expectError(readAll(world, ghost, 'out'), RunNotFoundError);
      await expectError(world.streams.write(ghost, 'out', 'x'), RunNotFoundError);
      await expectError(world.streams.close(ghost, 'out'), RunNotFoundError);
      await expectError(world.streams.list(ghost), RunNotFoundError);
    });

    test('aborting the signal ends a live read', async ({ world }) => {
      const { runId } = await startedRun(world);
      await world.streams.write(runId, 'open', 'one');
      const controller = new AbortController();
      const first = deferred();
      const received: unknown[] = [];
      const reading = (async () => {
        for await (const chunk of world.streams.read(runId, 'open', { signal: controller.signal })) {
          received.push(chunk.data);
          first.resolve();
        }
      })();
      await within(first.promise, 5000, 'the first chunk');
      controller.abort();
      // The contract says the read ends; whether it ends quietly or with an abort error is
      // left to the World, so either settlement passes.
      await within(
        reading.catch(() => {}),
        5000,
        'the read to end after abort',
      );
      expect(received).toEqual(['one']);
    });
  });
}
