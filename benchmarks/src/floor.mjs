// The physical floor, measured in the same run as everything else: what one durable write
// costs on this machine before any workflow engine is involved.
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { summarize } from './statistics.mjs';

const repetitions = 200;
const warmUps = 10;

/**
 * Both floors, ready to sample at any moment: one append of a small record followed by
 * fsync on the disk the local Worlds use, and one committed single-row INSERT (autocommit,
 * synchronous_commit on) on the benchmark PostgreSQL. `take(kind, count)` returns `count`
 * samples in milliseconds. The disk's and the server's speed drift within a run, so the
 * runner also samples them alongside the cells a cost per step is taken from.
 */
export async function openFloorProbe({ directory, connectionString }) {
  const path = join(directory, 'floor.log');
  const file = await open(path, 'a');
  const record = Buffer.from(`${JSON.stringify({ type: 'step_completed', payload: 'x'.repeat(64) })}\n`);
  const client = new pg.Client({ connectionString });
  await client.connect();
  await client.query('CREATE TABLE IF NOT EXISTS floor_insert (id bigserial PRIMARY KEY, payload text NOT NULL)');
  const payload = 'x'.repeat(64);
  const writes = {
    fsyncAppend: async () => {
      await file.write(record);
      await file.sync();
    },
    committedInsert: () => client.query('INSERT INTO floor_insert (payload) VALUES ($1)', [payload]),
  };
  return {
    async take(kind, count) {
      const write = writes[kind];
      if (write === undefined) throw new Error(`no floor named ${JSON.stringify(kind)}`);
      const samples = [];
      for (let index = 0; index < count; index++) {
        const started = performance.now();
        await write();
        samples.push(performance.now() - started);
      }
      return samples;
    },
    async close() {
      await file.close();
      await rm(path, { force: true });
      await client.query('DROP TABLE IF EXISTS floor_insert');
      await client.end();
    },
  };
}

/** A round's floors: `repetitions` samples of each after a few warm-ups. */
export async function measureFloors(probe) {
  const floors = {};
  for (const kind of ['fsyncAppend', 'committedInsert']) {
    await probe.take(kind, warmUps);
    floors[kind] = summarize(await probe.take(kind, repetitions));
  }
  return floors;
}
