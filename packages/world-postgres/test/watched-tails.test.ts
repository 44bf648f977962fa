import { createClient, createWorker, step, workflow } from '@cairn/core';
import type { World } from '@cairn/core/world';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, freshSchema, observingClient } from './helpers.js';

const opened: World[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
});

function worlds(count: number, schema = freshSchema()): World[] {
  const made = Array.from({ length: count }, () => createPostgresWorld({ connectionString, schema }));
  opened.push(...made);
  return made;
}

async function createRun(world: World): Promise<string> {
  const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
  return run.runId;
}

const increment = step('watched-tails.increment', async (value: number) => value + 1);
const chain = workflow('watched-tails.chain', async (steps: number) => {
  let value = 0;
  for (let index = 0; index < steps; index++) value = await increment(value);
  return value;
});

describe('world-postgres: tails carried by notifications', () => {
  it('wakes a watch on another pool with the tail the append committed', async () => {
    const [watcher, writer] = worlds(2);
    const runId = await createRun(writer!);
    expect(await watcher!.events.watch(runId, 0)).toEqual({ lastSeq: 1, status: 'pending' });
    const waiting = watcher!.events.watch(runId, 1);
    await writer!.events.create(runId, { eventType: 'run_started' });
    expect(await waiting).toEqual({ lastSeq: 2, status: 'running' });
    // Now followed: a watch behind the tail answers from what the notification said.
    expect(await watcher!.events.watch(runId, 1)).toEqual({ lastSeq: 2, status: 'running' });
  });

  it('follows a run from its own appends, so a watch after them reads nothing', async () => {
    const schema = freshSchema();
    const pool = new TailReadCountingPool({ connectionString });
    const world = createPostgresWorld({ pool, schema });
    opened.push(world);
    try {
      await world.events.watch(await createRun(world), 0); // listening from here on
      const runId = await createRun(world);
      const reads = pool.tailReads;
      const waiting = world.events.watch(runId, 1);
      await world.events.create(runId, { eventType: 'run_started' });
      expect(await waiting).toEqual({ lastSeq: 2, status: 'running' });
      expect(pool.tailReads - reads).toBe(0);
    } finally {
      await world.close();
      opened.splice(opened.indexOf(world), 1);
      await pool.end();
    }
  });

  it('still sees every commit after its LISTEN connection is killed', async () => {
    const schema = freshSchema();
    const [watcher, writer] = worlds(2, schema);
    const runId = await createRun(writer!);
    expect(await watcher!.events.watch(runId, 0)).toEqual({ lastSeq: 1, status: 'pending' });
    const admin = new pg.Client({ connectionString });
    await admin.connect();
    try {
      // Kill this schema's listeners, then commit while they are down: the followed tail (seq 1) is stale.
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = $1', [
        `LISTEN "cairn_${schema}"`,
      ]);
      await writer!.events.create(runId, { eventType: 'run_started' });
      expect(await watcher!.events.watch(runId, 1)).toEqual({ lastSeq: 2, status: 'running' });
    } finally {
      await admin.end();
    }
  });

  it('lets a client wait for a result without reading the run at every step', async () => {
    const [world] = worlds(1);
    // Once at the start and once when the watch reports the run ended: not once per event.
    expect(await runReadsWhileWaiting(world!, [20])).toBeLessThanOrEqual(3);
  });

  it('hands the ended run to the watch that sees it end, so result() reads no run at all', async () => {
    const [world] = worlds(1);
    // The World committed the ending itself, so it knows the run as it will stay.
    expect(await runReadsWhileWaiting(world!, [3])).toBe(0);
  });

  it('hands over the ended run even when the notification overtakes its own append', async () => {
    const [world] = worlds(1);
    // A run with no steps ends in its first commit, whose notification often reaches the
    // waiting client before the append that sent it has returned.
    expect(
      await runReadsWhileWaiting(
        world!,
        Array.from({ length: 20 }, () => 0),
      ),
    ).toBe(0);
  });

  it('gives a watch the ended run exactly as runs.get returns it', async () => {
    const [world] = worlds(1);
    const runId = await createRun(world!);
    await world!.events.create(runId, { eventType: 'run_started' });
    const waiting = world!.events.watch(runId, 2);
    await world!.events.create(runId, { eventType: 'run_completed', eventData: { output: { total: 7 } } });
    const tail = await waiting;
    expect(tail?.status).toBe('completed');
    expect(tail?.run).toEqual(await world!.runs.get(runId));
    // A copy: what one caller does to it never reaches the next.
    (tail!.run as { output: unknown }).output = 'changed';
    expect((await world!.events.watch(runId, 2))?.run?.output).toEqual({ total: 7 });
  });
});

/**
 * Runs `chain` once per count, one after another, with a worker on `world` and a client
 * whose World counts `runs.get`; returns how many reads the client made while waiting.
 */
async function runReadsWhileWaiting(world: World, counts: number[]): Promise<number> {
  let runReads = 0;
  const counted: World = {
    ...world,
    runs: {
      ...world.runs,
      get: (runId) => {
        runReads++;
        return world.runs.get(runId);
      },
    },
  };
  const worker = createWorker({ world, workflows: [chain], logger: false });
  await worker.start();
  try {
    const client = createClient({ world: counted });
    for (const count of counts) expect(await (await client.start(chain, count)).result()).toBe(count);
    return runReads;
  } finally {
    await worker.stop();
  }
}

/** A real pool that counts reads of a run's tail. */
class TailReadCountingPool extends pg.Pool {
  tailReads = 0;
  constructor(config: pg.PoolConfig) {
    const seen: { pool?: TailReadCountingPool } = {};
    super({
      ...config,
      Client: observingClient(({ text }) => {
        if (seen.pool && /^WITH marked AS \(\s*UPDATE \S+\.runs SET watcher/.test(text)) seen.pool.tailReads += 1;
      }),
    });
    seen.pool = this;
  }
}
