import { createClient, createWorker, getWritable, step, workflow } from '@cairn/core';
import type { World } from '@cairn/core/world';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestWorld } from './helpers.js';

const opened: World[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
});
function openWorld(): World {
  const world = createTestWorld();
  opened.push(world);
  return world;
}

const writeOne = step('closed-with-run.write', async (text: string) => {
  const writer = getWritable().getWriter();
  await writer.write(text);
  writer.releaseLock();
  return text;
});
const leavesStreamOpen = workflow('closed-with-run.open', async (text: string) => writeOne(text));

describe('world-postgres: streams end with their run', () => {
  it('closes every open stream in the append that ends the run, and its live readers finish', async () => {
    const world = openWorld();
    expect(world.capabilities.streams.closedWithRun).toBe(true);
    const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    await world.events.create(run.runId, { eventType: 'run_started' });
    await world.streams.write(run.runId, 'left-open', 'one');
    await world.streams.write(run.runId, 'closed', 'two');
    await world.streams.close(run.runId, 'closed');
    const chunks: unknown[] = [];
    const reading = (async () => {
      for await (const chunk of world.streams.read(run.runId, 'left-open')) chunks.push(chunk.data);
    })();
    await world.events.create(run.runId, { eventType: 'run_completed', eventData: { output: 1 } });
    // No separate close: the ending commit closed it, and woke the reader.
    expect(await world.streams.list(run.runId)).toEqual([
      expect.objectContaining({ name: 'left-open', closed: true, chunkCount: 1 }),
      expect.objectContaining({ name: 'closed', closed: true, chunkCount: 1 }),
    ]);
    await reading;
    expect(chunks).toEqual(['one']);
  });

  it('leaves the closing to the World, so a worker lists no streams when a run ends', async () => {
    const world = openWorld();
    let listings = 0;
    const counted: World = {
      ...world,
      streams: {
        ...world.streams,
        list: (runId) => {
          listings++;
          return world.streams.list(runId);
        },
      },
    };
    const worker = createWorker({ world: counted, workflows: [leavesStreamOpen], logger: false });
    await worker.start();
    try {
      const run = await createClient({ world: counted }).start(leavesStreamOpen, 'hello');
      expect(await run.result()).toBe('hello');
      const read: unknown[] = [];
      for await (const chunk of run.readable()) read.push(chunk);
      expect(read).toEqual(['hello']);
      expect(listings).toBe(0);
    } finally {
      await worker.stop();
    }
  });
});
