// The app `npm test` builds in a temp directory outside the workspace, against the packed
// tarballs: what a user gets from `npm install @cairn/core @cairn/world-local`. It runs one
// workflow that touches every primitive to completion, then checks the replay agrees.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createClient,
  createWorker,
  getWritable,
  map,
  replayRun,
  sleep,
  startChild,
  step,
  workflow,
} from '@cairn/core';
import { createLocalWorld } from '@cairn/world-local';

let doubleAttempts = 0;
const double = step(
  'scratch.double',
  async (value: number) => {
    doubleAttempts += 1;
    if (doubleAttempts === 1) throw new Error('the first attempt fails, so the retry path runs');
    return value * 2;
  },
  { maxRetries: 2, backoff: { initialMs: 10 } },
);
const square = step('scratch.square', async (value: number) => value * value);

const sum = workflow('scratch.sum', async (values: number[]) => values.reduce((total, value) => total + value, 0));

const pipeline = workflow('scratch.pipeline', async (input: { seed: number; items: number[] }) => {
  const doubled = await double(input.seed);
  await sleep('20ms');
  const squares = await map(input.items, (item) => square(item), { maxConcurrency: 2 });
  const total = await startChild(sum, squares);
  const writer = getWritable().getWriter();
  await writer.write(`total ${total}`);
  await writer.close();
  return { doubled, squares, total };
});

const dir = await mkdtemp(join(tmpdir(), 'cairn-scratch-world-'));
const world = createLocalWorld({ dir });
const worker = createWorker({ world, workflows: [pipeline, sum] });
try {
  await worker.start();
  const client = createClient({ world });
  const run = await client.start(pipeline, { seed: 5, items: [1, 2, 3] });
  const output = await run.result({ signal: AbortSignal.timeout(30_000) });
  assert.deepEqual(output, { doubled: 10, squares: [1, 4, 9], total: 14 });
  assert.equal(doubleAttempts, 2);

  const chunks: (string | Uint8Array)[] = [];
  for await (const chunk of run.readable()) chunks.push(chunk);
  assert.deepEqual(chunks, ['total 14']);

  const verdict = await replayRun(world, pipeline, run.id);
  assert.deepEqual(verdict, { status: 'completed', output });
  console.log(`scratch app: run ${run.id} completed with ${JSON.stringify(output)}; the replay agrees`);
} finally {
  await worker.stop();
  await world.close();
  await rm(dir, { recursive: true, force: true });
}
