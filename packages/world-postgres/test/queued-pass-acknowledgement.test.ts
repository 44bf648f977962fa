import { createClient, createWorker, step, workflow } from '@cairn/core';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, freshSchema, observingClient } from './helpers.js';

const pools: pg.Pool[] = [];
afterAll(() => Promise.all(pools.map((pool) => pool.end())));

const increment = step('queued-pass.increment', async (value: number) => value + 1);
const chain = workflow('queued-pass.chain', async (steps: number) => {
  let value = 0;
  for (let index = 0; index < steps; index++) value = await increment(value);
  return value;
});

describe('world-postgres: a pass delivered by the queue', () => {
  it('is acknowledged by the append that ends its run, with no statement of its own', async () => {
    const schema = freshSchema();
    const separateAcknowledgements: string[] = [];
    let leases = 0;
    const pool = new pg.Pool({
      connectionString,
      Client: observingClient(({ text }) => {
        if (text.includes('.queue_ack(') && !text.includes('.append_batch(')) separateAcknowledgements.push(text);
        if (text.includes('lease_token')) leases += 1;
      }),
    });
    pools.push(pool);
    const workerWorld = createPostgresWorld({ pool, schema });
    // A client on another World object: no worker is lent to it, so every run's wake goes
    // through the queue to the worker's consumer.
    const clientWorld = createPostgresWorld({ connectionString, schema });
    const worker = createWorker({ world: workerWorld, workflows: [chain], logger: false });
    await worker.start();
    try {
      const client = createClient({ world: clientWorld });
      const results = await Promise.all([1, 2, 3].map(async (steps) => (await client.start(chain, steps)).result()));
      expect(results).toEqual([1, 2, 3]);
    } finally {
      await worker.stop();
      await clientWorld.close();
      await workerWorld.close();
    }
    expect(leases).toBeGreaterThan(0);
    expect(separateAcknowledgements).toEqual([]);
    // Every wake was acknowledged all the same: nothing is left to deliver.
    const { rows } = await pool.query<{ waiting: number }>(
      `SELECT count(*)::int AS waiting FROM "${schema}".queue_messages WHERE acked_at IS NULL`,
    );
    expect(rows[0]!.waiting).toBe(0);
  });
});
