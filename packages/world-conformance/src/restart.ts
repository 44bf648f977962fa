import { DuplicateDeliveryError, type QueueMessage, type StreamChunk, type World } from '@cairn/core/world';
import { expect } from 'vitest';
import {
  type ConformanceOptions,
  deferred,
  expectError,
  hookCreated,
  hookDelivery,
  hookDisposed,
  readAllRuns,
  readLog,
  runCreated,
  runStarted,
  type Scope,
  section,
  stepCompleted,
  stepCreated,
  within,
} from './helpers.js';

/** Closes `world` and opens its store again; the new World is closed when the test ends. */
async function restart(scope: Scope, world: World): Promise<World> {
  const reopen = scope.options.reopen;
  if (!reopen) scope.skipBecause('no reopen option: this World cannot be opened again on the same storage');
  await world.close();
  const reopened = await reopen(world);
  scope.defer(() => reopened.close());
  return reopened;
}

/** Reads a stream up to its close (the test closes every stream it reads this way). */
async function readClosedStream(world: World, runId: string, name: string): Promise<StreamChunk['data'][]> {
  const chunks: StreamChunk['data'][] = [];
  const reading = (async () => {
    for await (const chunk of world.streams.read(runId, name)) chunks.push(chunk.data);
  })();
  await within(reading, 5000, `reading the closed stream ${name}`);
  return chunks;
}

/** Everything a test can observe about a set of runs, to compare across a restart. */
async function observe(world: World, runIds: string[], streamRunId: string) {
  const logs = await Promise.all(runIds.map((runId) => readLog(world, runId)));
  const hooks = await Promise.all(runIds.map(async (runId) => (await world.hooks.list(runId, { limit: 1000 })).data));
  const steps = await Promise.all(runIds.map(async (runId) => (await world.steps.list(runId, { limit: 1000 })).data));
  const runs = (await readAllRuns(world)).filter((run) => runIds.includes(run.runId));
  const streams = await world.streams.list(streamRunId);
  return { logs, hooks, steps, runs, streams };
}

/** What a restarted World must still hold: every confirmed write, exactly. */
export function describeRestart(options: ConformanceOptions): void {
  const skip = options.reopen ? undefined : 'no reopen option: this World cannot be opened again on the same storage';
  const scoped = skip === undefined ? options : { ...options, skip: { ...options.skip, restart: skip } };
  section(scoped, 'restart', 'restart on the same storage', (test) => {
    test('a reopened World holds every confirmed write, including a hook token handed from a later run to an earlier one', async (scope) => {
      let world = scope.world;
      const token = 'handoff:token-1';
      // Run A is created first, run B second. B claims the token and lets it go, then A
      // claims it: a legal handoff that a store restoring runs in creation order (rather
      // than commit order) would refuse on reopen.
      const a = (await world.events.createBatch(null, [runCreated('restart-ä-😀'), runStarted]))[0]!.run.runId;
      const b = (await world.events.createBatch(null, [runCreated('restart-b'), runStarted]))[0]!.run.runId;
      await world.events.create(b, hookCreated('hook-b', token));
      await world.events.create(b, hookDisposed('hook-b'));
      await world.events.create(a, hookCreated('hook-a', token));
      // Enough data that a World compacting its log (snapshots, checkpoints) does so here.
      const filler = 'ü😀-'.repeat(256);
      for (let index = 0; index < 40; index += 1) {
        const run = index % 2 === 0 ? a : b;
        await world.events.createBatch(run, [
          stepCreated(`step-${index}`, 'fill', { index, filler }),
          stepCompleted(`step-${index}`, { index }),
        ]);
      }
      await world.streams.write(a, 'text-ström', 'héllo 😀');
      await world.streams.write(a, 'text-ström', new Uint8Array([0, 255, 7]));
      await world.streams.close(a, 'text-ström');
      const queued = await world.queue.send('conformance.restart', { kept: 'ä😀' }, { idempotencyKey: 'restart-1' });

      const before = await observe(world, [a, b], a);
      expect((await world.hooks.getByToken(token)).runId).toBe(a);

      world = await restart(scope, world);
      expect(await observe(world, [a, b], a)).toEqual(before);
      expect(await world.hooks.getByToken(token)).toMatchObject({ runId: a, hookId: 'hook-a' });
      expect(await readClosedStream(world, a, 'text-ström')).toEqual(['héllo 😀', new Uint8Array([0, 255, 7])]);
      expect(await world.queue.send('conformance.restart', 'again', { idempotencyKey: 'restart-1' })).toEqual({
        messageId: queued.messageId,
        deduplicated: true,
      });

      // The reopened World goes on from where it was: the token moves on again, and a
      // second restart keeps that too.
      await world.events.create(a, hookDisposed('hook-a'));
      await world.events.create(b, hookCreated('hook-b2', token));
      const tailB = await readLog(world, b);
      world = await restart(scope, world);
      expect(await world.hooks.getByToken(token)).toMatchObject({ runId: b, hookId: 'hook-b2' });
      expect(await readLog(world, b)).toEqual(tailB);

      const delivered = deferred<QueueMessage>();
      const consumer = world.queue.consume('conformance.restart', async (message) => delivered.resolve(message));
      scope.defer(() => consumer.stop());
      const message = await within(delivered.promise, 5000, 'the message queued before the restarts');
      expect(message).toMatchObject({ messageId: queued.messageId, payload: { kept: 'ä😀' } });
    });

    test('a reopened World still refuses a delivery id its run holds', async (scope) => {
      let world = scope.world;
      if (world.capabilities.uniqueDeliveryIds !== true) scope.skipBecause('capabilities.uniqueDeliveryIds is false');
      const runId = (
        await world.events.createBatch(null, [runCreated(), runStarted, hookCreated('h1', 'restart:dd')])
      )[0]!.run.runId;
      await world.events.create(runId, hookDelivery('h1', 'before-restart'));
      // Enough data that a World compacting its log (snapshots, checkpoints) does so here.
      const filler = 'ü😀-'.repeat(256);
      for (let index = 0; index < 40; index += 1) {
        await world.events.createBatch(runId, [
          stepCreated(`step-${index}`, 'fill', { index, filler }),
          stepCompleted(`step-${index}`, { index }),
        ]);
      }
      world = await restart(scope, world);
      const repeat = await expectError(
        world.events.create(runId, hookDelivery('h1', 'before-restart')),
        DuplicateDeliveryError,
      );
      expect(repeat).toMatchObject({ runId, deliveryId: 'before-restart', hookId: 'h1' });
      await world.events.create(runId, hookDelivery('h1', 'after-restart'));
      expect((await world.hooks.get(runId, 'h1')).receivedCount).toBe(2);
    });

    test('writes made after a restart follow the ones before it, with no gap in seq', async (scope) => {
      let world = scope.world;
      const runId = (await world.events.createBatch(null, [runCreated(), runStarted]))[0]!.run.runId;
      for (let round = 0; round < 3; round += 1) {
        for (let index = 0; index < 10; index += 1) {
          await world.events.create(runId, stepCreated(`round-${round}-${index}`, 'work', 'x'.repeat(512)));
        }
        world = await restart(scope, world);
      }
      const log = await readLog(world, runId);
      expect(log.map((event) => event.seq)).toEqual(Array.from({ length: 32 }, (_, index) => index + 1));
      expect((await world.runs.get(runId)).lastSeq).toBe(32);
    });
  });
}
