import { readdir } from 'node:fs/promises';
import { WorldUnavailableError } from '@cairn/core/world';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalWorld, type LocalWorld } from '../src/index.js';
import { temporaryDirectory, within } from './helpers.js';

const opened: LocalWorld[] = [];
const track = (world: LocalWorld) => {
  opened.push(world);
  return world;
};
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
});

describe('world-local read-only', () => {
  it('reads a directory another World holds, and sees its later writes', async () => {
    const directory = await temporaryDirectory();
    const holder = track(createLocalWorld({ dir: directory }));
    const { run } = await holder.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'seen' } });
    const reader = track(createLocalWorld({ dir: directory, readOnly: true, pollIntervalMs: 20 }));

    expect((await reader.runs.get(run.runId)).workflowName).toBe('seen');
    expect((await reader.events.list(run.runId)).data.map((event) => event.eventType)).toEqual(['run_created']);

    // A watcher in the reader wakes when the holder appends, without any call to the reader.
    const watching = reader.events.watch(run.runId, 1);
    await holder.events.create(run.runId, {
      eventType: 'hook_created',
      correlationId: 'hook-1',
      eventData: { token: 'approve:seen' },
    });
    await within(watching, 5_000, 'the read-only watch to see the holder write');
    expect((await reader.hooks.getByToken('approve:seen')).hookId).toBe('hook-1');
    expect((await reader.runs.list()).data.map((listed) => listed.runId)).toEqual([run.runId]);
  });

  it('follows a live stream the holder writes and ends when it closes', async () => {
    const directory = await temporaryDirectory();
    const holder = track(createLocalWorld({ dir: directory }));
    const { run } = await holder.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'feed' } });
    await holder.streams.write(run.runId, 'log', 'first');
    const reader = track(createLocalWorld({ dir: directory, readOnly: true, pollIntervalMs: 20 }));

    const received: string[] = [];
    const reading = (async () => {
      for await (const chunk of reader.streams.read(run.runId, 'log')) {
        received.push(String(chunk.data));
        if (received.length === 1) {
          await holder.streams.write(run.runId, 'log', 'second');
          await holder.streams.close(run.runId, 'log');
        }
      }
    })();
    await within(reading, 5_000, 'the read-only stream to end');
    expect(received).toEqual(['first', 'second']);
    expect(await reader.streams.list(run.runId)).toMatchObject([{ name: 'log', chunkCount: 2, closed: true }]);
  });

  it('refuses every write and leaves the directory as it was', async () => {
    const directory = await temporaryDirectory();
    const holder = track(createLocalWorld({ dir: directory }));
    const { run } = await holder.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    const before = (await readdir(directory)).sort();
    const reader = track(createLocalWorld({ dir: directory, readOnly: true }));

    const refusals = [
      reader.events.create(run.runId, { eventType: 'run_cancelled', eventData: {} }),
      reader.queue.send('jobs', {}),
      reader.streams.write(run.runId, 'log', 'x'),
      reader.streams.close(run.runId, 'log'),
    ];
    for (const refusal of refusals) {
      const error = await refusal.catch((caught: unknown) => caught);
      expect(WorldUnavailableError.is(error)).toBe(true);
      expect(String(error)).toMatch(/read-only/);
    }
    expect(() => reader.queue.consume('jobs', async () => {})).toThrow(/read-only/);
    expect((await reader.runs.get(run.runId)).status).toBe('pending');
    expect((await readdir(directory)).sort()).toEqual(before);
  });

  it('refuses to extend or settle a claim, which stays with the holder', async () => {
    const directory = await temporaryDirectory();
    const holder = track(createLocalWorld({ dir: directory }));
    const { run } = await holder.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    const { claims } = await holder.events.create(
      run.runId,
      { eventType: 'step_created', correlationId: 'claimed', eventData: { stepName: 'work' } },
      { enqueue: [{ topic: 'jobs', payload: 1, claim: { leaseMs: 60_000 } }] },
    );
    const claim = claims![0]!;
    const reader = track(createLocalWorld({ dir: directory, readOnly: true }));

    const refusals = [
      reader.queue.extendClaim!(claim, 1000),
      reader.queue.settleClaim!(claim, { acknowledge: true }),
      reader.queue.settleClaim!(claim, { retryAfterMs: 0 }),
      reader.events.create(run.runId, { eventType: 'run_started' }, { acknowledge: [claim] }),
    ];
    for (const refusal of refusals) {
      const error = await refusal.catch((caught: unknown) => caught);
      expect(WorldUnavailableError.is(error)).toBe(true);
      expect(String(error)).toMatch(/read-only/);
    }
    // The holder's claim is untouched: it can still be settled, once.
    expect(await holder.queue.settleClaim!(claim, { acknowledge: true })).toBe(true);
    expect(await holder.queue.settleClaim!(claim, { acknowledge: true })).toBe(false);
  });

  it('rebuilds from the snapshot after the holder checkpoints', async () => {
    const directory = await temporaryDirectory();
    const holder = track(createLocalWorld({ dir: directory, checkpointBytes: 16 * 1024 }));
    const { run } = await holder.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'big' } });
    const reader = track(createLocalWorld({ dir: directory, readOnly: true }));
    expect((await reader.events.list(run.runId)).data.length).toBe(1);
    for (let index = 0; index < 40; index++) {
      await holder.events.create(run.runId, {
        eventType: 'step_created',
        correlationId: `step-${index}`,
        eventData: { stepName: 'work', input: 'y'.repeat(1000) },
      });
    }
    expect((await readdir(directory)).some((file) => file.startsWith('snapshot-'))).toBe(true);
    const page = await reader.events.list(run.runId, { limit: 1000 });
    expect(page.data.length).toBe(41);
    expect((await reader.steps.list(run.runId, { limit: 1000 })).data.length).toBe(40);
  });

  it('names a directory that does not exist', async () => {
    const directory = `${await temporaryDirectory()}/absent`;
    const reader = track(createLocalWorld({ dir: directory, readOnly: true }));
    const error = await reader.runs.list().catch((caught: unknown) => caught);
    expect(WorldUnavailableError.is(error)).toBe(true);
    expect(String(error)).toContain('no such directory');
  });
});
