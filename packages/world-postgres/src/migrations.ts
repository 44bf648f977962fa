import { parseInput } from '@cairn/core/world';
import type { Pool } from 'pg';
import { z } from 'zod';
import { checkConnectionString, connectionShape, locationOf, openPool, requireOneSource } from './connection.js';
import { Database, errorCode } from './database.js';
import { initialSchema } from './migrations/0001-initial.js';
import { writeBatchFunction } from './migrations/0002-write-batch.js';
import { appendBatchFunctions } from './migrations/0003-append-batch.js';
import { payloadsOnceSchema } from './migrations/0004-payloads-once.js';
import { notifyAfterCommitFunctions } from './migrations/0005-notify-after-commit.js';
import { lz4CompressionSchema } from './migrations/0006-lz4-compression.js';
import { fenceInRunUpdateFunction } from './migrations/0007-fence-in-run-update.js';
import { dropCreatedAtIndexSchema } from './migrations/0008-drop-created-at-index.js';
import { uniqueDeliveryIdsSchema } from './migrations/0009-unique-delivery-ids.js';
import { genericAppendPlansFunction } from './migrations/0010-generic-append-plans.js';
import { unannouncedOwnAppendsSchema } from './migrations/0011-unannounced-own-appends.js';
import { tablesFor } from './tables.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

/**
 * Versioned, append-only: a released migration is never edited, a change is a new entry.
 * Each one runs in the same transaction as its row in `cairn_migrations`, so a migration is
 * applied entirely or not at all.
 */
export const migrations: readonly Migration[] = [
  { version: 1, name: 'initial', sql: initialSchema },
  { version: 2, name: 'write-batch', sql: writeBatchFunction },
  { version: 3, name: 'append-batch', sql: appendBatchFunctions },
  { version: 4, name: 'payloads-once', sql: payloadsOnceSchema },
  { version: 5, name: 'notify-after-commit', sql: notifyAfterCommitFunctions },
  { version: 6, name: 'lz4-compression', sql: lz4CompressionSchema },
  { version: 7, name: 'fence-in-run-update', sql: fenceInRunUpdateFunction },
  { version: 8, name: 'drop-created-at-index', sql: dropCreatedAtIndexSchema },
  { version: 9, name: 'unique-delivery-ids', sql: uniqueDeliveryIdsSchema },
  { version: 10, name: 'generic-append-plans', sql: genericAppendPlansFunction },
  { version: 11, name: 'unannounced-own-appends', sql: unannouncedOwnAppendsSchema },
];

export const latestVersion = Math.max(...migrations.map((migration) => migration.version));

const migrateOptionsSchema = z
  .strictObject({
    connectionString: connectionShape.connectionString,
    pool: connectionShape.pool,
    schema: connectionShape.schema,
    connectTimeoutMs: connectionShape.connectTimeoutMs,
  })
  .superRefine(requireOneSource);
export type MigrateOptions = z.input<typeof migrateOptionsSchema>;

export interface MigrateResult {
  schema: string;
  /** Versions this call applied; empty when the schema was already current. */
  applied: number[];
  version: number;
}

/**
 * Brings `schema` to the latest version. Safe to run from many processes at once: they
 * serialise on a transaction-scoped advisory lock keyed by the schema, and each applies only
 * what the previous holder left missing. Migrations never drop data, so a schema newer than
 * this package (during a rolling deploy) is left as it is.
 */
export async function applyMigrations(pool: Pool, schema: string): Promise<MigrateResult> {
  const tables = tablesFor(schema);
  // Fast path for every start after the first: one read, no lock.
  try {
    const { rows } = await pool.query<{ version: number | null }>(
      `SELECT max(version) AS version FROM ${tables.migrations}`,
    );
    const version = rows[0]?.version ?? 0;
    if (version >= latestVersion) return { schema, applied: [], version };
  } catch (error) {
    if (errorCode(error) !== '42P01' && errorCode(error) !== '3F000') throw error; // table or schema missing
  }
  const client = await pool.connect();
  // See Database.transaction: an unheard 'error' on a checked-out client kills the process.
  const ignoreConnectionError = () => {};
  client.on('error', ignoreConnectionError);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    // Concurrent starters wait here; CREATE SCHEMA IF NOT EXISTS alone races on the catalog.
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`cairn.migrate:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${tables.schema}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${tables.migrations} (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const { rows } = await client.query<{ version: number }>(`SELECT version FROM ${tables.migrations}`);
    const done = new Set(rows.map((row) => row.version));
    const applied: number[] = [];
    for (const migration of migrations) {
      if (done.has(migration.version)) continue;
      await client.query(migration.sql.replaceAll('{{schema}}', tables.schema));
      await client.query(`INSERT INTO ${tables.migrations} (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      applied.push(migration.version);
    }
    await client.query('COMMIT');
    return { schema, applied, version: Math.max(latestVersion, ...done) };
  } catch (error) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    client.off('error', ignoreConnectionError);
    client.release(broken);
  }
}

/**
 * For operators who migrate before deploying (or without DDL rights at run time):
 * `await migrate({ connectionString, schema })`. Worlds also migrate on first use.
 */
export async function migrate(options: MigrateOptions): Promise<MigrateResult> {
  const parsed = parseInput(migrateOptionsSchema, options, 'options');
  checkConnectionString(parsed);
  const schema = parsed.schema ?? 'cairn';
  const { pool, owned, release } = openPool({ ...parsed, poolSize: 1 });
  const database = new Database(pool, schema, `postgres:${schema}`, locationOf(parsed), async () => {});
  try {
    return await applyMigrations(pool, schema);
  } catch (error) {
    throw database.mapError(error);
  } finally {
    release();
    if (owned) await pool.end();
  }
}
