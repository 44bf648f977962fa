import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HttpWorld } from '../src/index.js';
import { httpWorldInFront, localWorld } from './helpers.js';

/**
 * Node warns ("possible memory leak detected") when an emitter or signal collects more than
 * ten listeners for one event. Many waits at once are legitimate and must not warn; listeners
 * that outlive what they waited for are a leak and must not pile up.
 */
let warnings: string[] = [];
const record = (warning: Error) => {
  if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning.message);
};
beforeEach(() => {
  warnings = [];
  process.on('warning', record);
});
afterEach(() => {
  process.off('warning', record);
});

/** Warnings are emitted on a later tick than the listener that caused them. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

let world: HttpWorld | undefined;
afterEach(async () => {
  await world?.close();
  world = undefined;
});

async function startedRun(target: HttpWorld): Promise<string> {
  const created = await target.events.create(null, {
    eventType: 'run_created',
    eventData: { workflowName: 'listeners.test' },
  });
  return created.event.runId;
}

describe('world-http: listeners', () => {
  it('a live read of many large chunks leaves no listeners behind on the response', async () => {
    world = await httpWorldInFront(await localWorld());
    const runId = await startedRun(world);
    // Each line is far bigger than the response's buffer, so every write waits for a drain.
    const chunk = 'x'.repeat(256 * 1024);
    for (let index = 0; index < 24; index++) await world.streams.write(runId, 'big', chunk);
    await world.streams.close(runId, 'big');
    let count = 0;
    for await (const read of world.streams.read(runId, 'big')) {
      expect(read.data).toHaveLength(chunk.length);
      count++;
    }
    expect(count).toBe(24);
    await settle();
    expect(warnings).toEqual([]);
  });

  it('twenty concurrent watches, reads and consumers on one signal do not warn', async () => {
    world = await httpWorldInFront(await localWorld());
    const runId = await startedRun(world);
    const stop = new AbortController();
    const handled: unknown[] = [];
    const consumers = Array.from({ length: 20 }, (_, index) =>
      world!.queue.consume(`listeners-${index}`, async (message) => void handled.push(message)),
    );
    const watches = Array.from({ length: 20 }, () => world!.events.watch(runId, 10_000, stop.signal));
    const reads = Array.from({ length: 20 }, async () => {
      for await (const _ of world!.streams.read(runId, 'never', { signal: stop.signal })) {
        // nothing is written to this stream
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    stop.abort();
    await Promise.all([...watches, ...reads]);
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    await settle();
    expect(warnings).toEqual([]);
  });
});
