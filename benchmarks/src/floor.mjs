// The physical floor, measured in the same run as everything else: what one durable write
// costs on this machine before any workflow engine is involved.
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { summarize } from './statistics.mjs';

const repetitions = 200;

/** One append of a small record followed by fsync, on the disk the local Worlds use. */
export async function measureFsyncAppend(directory) {
  const path = join(directory, 'floor.log');
  const file = await open(path, 'a');
  const record = Buffer.from(`${JSON.stringify({ type: 'step_completed', payload: 'x'.repeat(64) })}\n`);
  const samples = [];
  try {
    for (let index = 0; index < repetitions + 10; index++) {
      const started = performance.now();
      await file.write(record);
      await file.sync();
      if (index >= 10) samples.push(performance.now() - started);
    }
  } finally {
    await file.close();
    await rm(path, { force: true });
  }
  return summarize(samples);
}

/** One committed single-row INSERT (autocommit, synchronous_commit on) on the benchmark PostgreSQL. */
export async function measureCommittedInsert(connectionString) {
  const client = new pg.Client({ connectionString });
  await client.connect();
  const samples = [];
  try {
    await client.query('CREATE TABLE IF NOT EXISTS floor_insert (id bigserial PRIMARY KEY, payload text NOT NULL)');
    const payload = 'x'.repeat(64);
    for (let index = 0; index < repetitions + 10; index++) {
      const started = performance.now();
      await client.query('INSERT INTO floor_insert (payload) VALUES ($1)', [payload]);
      if (index >= 10) samples.push(performance.now() - started);
    }
    await client.query('DROP TABLE floor_insert');
  } finally {
    await client.end();
  }
  return summarize(samples);
}
