import { getWritable, map, replayRun, step, workflow } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EngineSuiteOptions, type Harness, openHarness } from '../harness.js';

const narrate = step('streams.narrate', async (lines: string[]) => {
  const writer = getWritable().getWriter();
  for (const line of lines) await writer.write(line);
  await writer.write(new Uint8Array([0, 1, 2, 255]));
  await writer.close();
  return lines.length;
});
const report = step('streams.report', async (writer: number, chunks: number) => {
  const output = getWritable('progress').getWriter();
  for (let chunk = 0; chunk < chunks; chunk++) await output.write(`w${writer}:c${chunk}`);
  await output.close();
  return writer;
});
const middle = step('streams.middle', async () => 'middle');

const narrated = workflow('streams.narrated', async (lines: string[]) => narrate(lines));
const fanIn = workflow('streams.fan-in', async ({ writers, chunks }: { writers: number; chunks: number }) =>
  map(
    Array.from({ length: writers }, (_, index) => index),
    (writer) => report(writer, chunks),
    { maxConcurrency: writers },
  ),
);
const fromWorkflow = workflow('streams.from-workflow', async () => {
  const writer = getWritable('story').getWriter();
  await writer.write('once upon a time');
  const value = await middle();
  await writer.write(`then ${value}`);
  await writer.write(new Uint8Array([42]));
  return 'told';
});

const collect = async (chunks: AsyncIterable<string | Uint8Array>) => {
  const out: (string | Uint8Array)[] = [];
  for await (const chunk of chunks) out.push(chunk);
  return out;
};

export function describeStreams(options: EngineSuiteOptions): void {
  describe(`${options.name}: durable streams`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await harness.close();
    });

    it('streams text and binary from a step to a live reader, which ends when the run ends', async () => {
      await harness.startWorker({ workflows: [narrated] });
      const run = await harness.client.start(narrated, ['one', 'two', 'three']);
      // The reader starts before (or while) the step writes and follows live until close.
      const read = collect(run.readable());
      expect(await run.result()).toBe(3);
      expect(await read).toEqual(['one', 'two', 'three', new Uint8Array([0, 1, 2, 255])]);
      // Readers can resume from any index, or count back from the tail.
      expect(await collect(run.readable('default', { fromIndex: 2 }))).toEqual([
        'three',
        new Uint8Array([0, 1, 2, 255]),
      ]);
      expect(await collect(run.readable('default', { fromIndex: -1 }))).toEqual([new Uint8Array([0, 1, 2, 255])]);
      expect((await harness.world.streams.list(run.id))[0]).toMatchObject({ name: 'default', closed: true });
    });

    it("keeps every chunk of 50 concurrent writers, in each writer's order", async () => {
      await harness.startWorker({ workflows: [fanIn], concurrency: 50 });
      const run = await harness.client.start(fanIn, { writers: 50, chunks: 20 });
      expect(await run.result()).toHaveLength(50);
      const chunks = (await collect(run.readable('progress'))) as string[];
      expect(chunks).toHaveLength(1000);
      const next = new Array(50).fill(0);
      for (const chunk of chunks) {
        const [, writer, index] = /^w(\d+):c(\d+)$/.exec(chunk)!.map(Number);
        expect(index).toBe(next[writer!]);
        next[writer!] += 1;
      }
      expect(next).toEqual(new Array(50).fill(20));
    });

    it('writes from the workflow itself exactly once, in workflow order, across replays', async () => {
      const worker = await harness.startWorker({ workflows: [fromWorkflow] });
      const run = await harness.client.start(fromWorkflow, undefined);
      expect(await run.result()).toBe('told');
      await worker.stop();
      // A cold replay re-executes the workflow code, but recorded writes are never repeated.
      expect(await replayRun(harness.world, fromWorkflow, run.id)).toEqual({ status: 'completed', output: 'told' });
      expect(await collect(run.readable('story'))).toEqual(['once upon a time', 'then middle', new Uint8Array([42])]);
    });
  });
}
