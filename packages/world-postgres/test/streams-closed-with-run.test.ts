import { createClient, createWorker, getWritable, step, workflow } from '@cairn/core';
import type { World } from '@cairn/core/world';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, createTestWorld, freshSchema, observingClient } from './helpers.js';

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

  describe('a reader waiting for a stream ends as soon as its run ends without it, not at the next poll', () => {
    // A poll far longer than the test's bound: only the run's end can end these reads.
    const slowPoll = { pollIntervalMs: 60_000 };

    /** Every chunk of stream `name` of `runId`, once the read ends. */
    async function readAll(world: World, runId: string, name: string): Promise<unknown[]> {
      const chunks: unknown[] = [];
      for await (const chunk of world.streams.read(runId, name)) chunks.push(chunk);
      return chunks;
    }

    /**
     * Reads a closed stream to its end, which connects the World's listener first: its
     * arrival wakes every waiter once, which would give a reader a second look.
     */
    async function listening(world: World, runId: string) {
      await world.streams.close(runId, 'warm-up');
      for await (const _ of world.streams.read(runId, 'warm-up')) throw new Error('the stream is empty');
    }

    async function endedWithin(reading: Promise<unknown[]>, ms: number) {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`still waiting after ${ms} ms`), ms);
      });
      try {
        return await Promise.race([reading, late]);
      } finally {
        clearTimeout(timer);
      }
    }

    /** A pool whose statements are seen: `readAnswered` resolves once a stream read naming `name` has answered. */
    function watchedPool(name: string) {
      let answered!: () => void;
      const readAnswered = new Promise<void>((resolve) => {
        answered = resolve;
      });
      const pool = new pg.Pool({
        connectionString,
        max: 4,
        Client: observingClient((statement, done) => {
          if (statement.text.includes('LEFT JOIN LATERAL') && statement.values.includes(name)) {
            void done.then(answered);
          }
        }),
      });
      return { pool, readAnswered };
    }

    it('when the World that ends the run is another one', async () => {
      const schema = freshSchema();
      const { pool, readAnswered } = watchedPool('never');
      const reader = createPostgresWorld({ pool, schema, ...slowPoll });
      const writer = createPostgresWorld({ connectionString, schema, ...slowPoll });
      opened.push(writer);
      try {
        const { run } = await writer.events.create(null, {
          eventType: 'run_created',
          eventData: { workflowName: 'w' },
        });
        await writer.events.create(run.runId, { eventType: 'run_started' });
        await listening(reader, run.runId);
        const reading = readAll(reader, run.runId, 'never');
        await readAnswered;
        await writer.events.create(run.runId, { eventType: 'run_completed', eventData: { output: 1 } });
        expect(await endedWithin(reading, 5000)).toEqual([]);
      } finally {
        await reader.close();
        await pool.end();
      }
    });

    it('when the World that ends the run is its own', async () => {
      const schema = freshSchema();
      const { pool, readAnswered } = watchedPool('never');
      const world = createPostgresWorld({ pool, schema, ...slowPoll });
      try {
        const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
        await world.events.create(run.runId, { eventType: 'run_started' });
        await listening(world, run.runId);
        const reading = readAll(world, run.runId, 'never');
        await readAnswered;
        await world.events.create(run.runId, { eventType: 'run_cancelled', eventData: {} });
        expect(await endedWithin(reading, 5000)).toEqual([]);
      } finally {
        await world.close();
        await pool.end();
      }
    });
  });
});
