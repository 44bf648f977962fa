// Where cairn-postgres's write-ahead log goes per step: WAL records and bytes by table and
// record type over runs of N sequential no-op steps, minus runs of none, per step.
// Usage: node benchmarks/src/wal-breakdown.mjs [steps] [runs]
import { createPostgresWorld } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';
import pg from 'pg';
import { startSequentialRuns } from './sequential-runs.mjs';

const steps = Number(process.argv[2] ?? 50);
const runs = Number(process.argv[3] ?? 5);
const server = await startPostgres();
const admin = new pg.Client({ connectionString: server.connectionString });
await admin.connect();
await admin.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
const world = await createPostgresWorld({ connectionString: server.connectionString });
const sequential = await startSequentialRuns(world, 2);

const relationNames = new Map(
  (
    await admin.query(
      `SELECT c.relfilenode::text AS node, c.relname AS name FROM pg_class c
       JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'cairn'`,
    )
  ).rows.map((row) => [row.node, row.name]),
);

/** WAL records and bytes by (table, record type) while `work` runs. */
async function measure(work) {
  await admin.query('CHECKPOINT'); // so full-page images do not depend on what ran before
  const start = (await admin.query('SELECT pg_current_wal_flush_lsn() AS lsn')).rows[0].lsn;
  await work();
  const end = (await admin.query('SELECT pg_current_wal_flush_lsn() AS lsn')).rows[0].lsn;
  const { rows } = await admin.query(
    `SELECT resource_manager || '/' || record_type AS kind, block_ref, record_length + fpi_length AS bytes
     FROM pg_get_wal_records_info($1, $2)`,
    [start, end],
  );
  const totals = new Map();
  for (const row of rows) {
    const node = /rel \d+\/\d+\/(\d+)/.exec(row.block_ref ?? '')?.[1];
    const key = `${relationNames.get(node) ?? (node ? 'other' : '-')} ${row.kind}`;
    const total = totals.get(key) ?? { records: 0, bytes: 0 };
    total.records += 1;
    total.bytes += Number(row.bytes);
    totals.set(key, total);
  }
  return totals;
}

const runMany = (count) => async () => {
  for (let i = 0; i < runs; i++) await sequential.run(count);
};
const empty = await measure(runMany(0));
const full = await measure(runMany(steps));
const lines = [];
for (const key of new Set([...empty.keys(), ...full.keys()])) {
  const records = ((full.get(key)?.records ?? 0) - (empty.get(key)?.records ?? 0)) / (runs * steps);
  const bytes = ((full.get(key)?.bytes ?? 0) - (empty.get(key)?.bytes ?? 0)) / (runs * steps);
  if (Math.abs(bytes) >= 1) lines.push({ key, records, bytes });
}
lines.sort((x, y) => y.bytes - x.bytes);
for (const { key, records, bytes } of lines)
  console.log(`${bytes.toFixed(0).padStart(6)} B  ${records.toFixed(2).padStart(5)} records  ${key}`);
console.log(`${lines.reduce((sum, line) => sum + line.bytes, 0).toFixed(0)} WAL bytes per step in all`);
await sequential.stop();
await world.close();
await admin.end();
await server.stop();
