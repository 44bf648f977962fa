import { createClient, createWorker, step, workflow } from '@cairn/core';
import type { World, WorldEvent } from '@cairn/core/world';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisWorld } from '../src/index.js';
import { type RedisServer, startRedis } from '../src/testing.js';
import { freshPrefix } from './helpers.js';

/** Records every event an append acknowledged: those are what must survive the crash. */
function recording(world: World, acknowledged: WorldEvent[]): World {
  return {
    ...world,
    events: {
      ...world.events,
      create: async (...args) => {
        const result = await world.events.create(...args);
        acknowledged.push(result.event);
        return result;
      },
      createBatch: async (...args) => {
        const results = await world.events.createBatch(...args);
        for (const { event } of results) acknowledged.push(event);
        return results;
      },
    },
    close: () => world.close(),
  };
}

const hop = step('durability.hop', async (index: number) => {
  // Long enough that the kill lands while runs are mid-way.
  await new Promise((resolve) => setTimeout(resolve, 20));
  return index + 1;
});
const chain = workflow('durability.chain', async (length: number) => {
  let value = 0;
  for (let index = 0; index < length; index++) value = await hop(value);
  return value;
});

describe('world-redis: SIGKILL of redis-server under appendfsync always', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server.stop());

  it('keeps every acknowledged event, and every run completes after a restart from the AOF', async () => {
    const world = createRedisWorld({ url: server.url, prefix: freshPrefix(), pollIntervalMs: 100 });
    await world.open();
    expect(world.capabilities.durability).toBe('fsync');
    const acknowledged: WorldEvent[] = [];
    const recorded = recording(world, acknowledged);
    const worker = createWorker({ world: recorded, workflows: [chain], concurrency: 8 });
    await worker.start();
    const client = createClient({ world: recorded });
    const runs = await Promise.all(Array.from({ length: 8 }, () => client.start(chain, 12)));

    // Mid-run: some events are in, and no run is finished.
    const deadline = Date.now() + 20_000;
    while (acknowledged.length < 60 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(acknowledged.length).toBeGreaterThanOrEqual(60);
    await server.kill();
    const atKill = acknowledged.length;
    await server.start();

    const results = await Promise.all(runs.map((run) => run.result()));
    expect(results).toEqual(runs.map(() => 12));
    await worker.stop();

    // Everything acknowledged before the kill (and after it) is there, exactly as acknowledged.
    expect(atKill).toBeGreaterThan(0);
    for (const event of acknowledged) {
      expect(await world.events.get(event.runId, event.eventId)).toEqual(event);
    }
    for (const run of runs) expect((await world.runs.get(run.id)).status).toBe('completed');
    await world.close();
  }, 120_000);
});
