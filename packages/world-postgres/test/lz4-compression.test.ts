import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, freshSchema } from './helpers.js';

/** Text PostgreSQL compresses well and keeps out of line only past about 2 KB, as most payloads. */
const repetitive = (label: string, characters: number) =>
  `${label}-`.repeat(Math.ceil(characters / (label.length + 1))).slice(0, characters);

describe('world-postgres payload compression', () => {
  const admin = new pg.Client({ connectionString });
  beforeAll(() => admin.connect());
  afterAll(() => admin.end());

  it('compresses large payloads with lz4, where the server offers it', async () => {
    // Debian's, Ubuntu's and the official images' builds all have lz4; the test machine must too,
    // or this test would check nothing.
    const { rows: offered } = await admin.query(
      `SELECT 'lz4' = ANY(enumvals) AS lz4 FROM pg_settings WHERE name = 'default_toast_compression'`,
    );
    expect(offered[0]?.lz4, 'the test server offers lz4 compression').toBe(true);

    const schema = freshSchema();
    const world = createPostgresWorld({ connectionString, schema });
    await world.open?.();
    try {
      const input = repetitive('run-input', 10_240);
      const { run } = await world.events.create(null, {
        eventType: 'run_created',
        eventData: { workflowName: 'compressed', input },
      });
      await world.streams.write(run.runId, 'out', repetitive('chunk', 65_536));
      await world.queue.send('compressed.topic', { body: repetitive('message', 10_240) });

      const quoted = `"${schema}"`;
      const methods = async (sql: string, values: unknown[]) =>
        (await admin.query<{ method: string | null }>(sql, values)).rows.map((row) => row.method);
      expect(
        await methods(`SELECT pg_column_compression(body) AS method FROM ${quoted}.events WHERE run_id = $1`, [
          run.runId,
        ]),
      ).toEqual(['lz4']);
      expect(
        await methods(`SELECT pg_column_compression(data) AS method FROM ${quoted}.stream_chunks WHERE run_id = $1`, [
          run.runId,
        ]),
      ).toEqual(['lz4']);
      expect(
        await methods(
          `SELECT pg_column_compression(payload) AS method FROM ${quoted}.queue_messages WHERE topic = $1`,
          ['compressed.topic'],
        ),
      ).toEqual(['lz4']);
      // Read back exactly as written.
      expect((await world.runs.get(run.runId)).input).toBe(input);
    } finally {
      await world.close();
    }
  });

  it('sets lz4 on every column that holds JSON or bytes', async () => {
    const schema = freshSchema();
    const world = createPostgresWorld({ connectionString, schema });
    await world.open?.();
    try {
      const { rows } = await admin.query<{ table: string; column: string; method: string }>(
        `SELECT c.relname AS table, a.attname AS column, a.attcompression AS method
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = $1 AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
            AND a.atttypid IN ('json'::regtype, 'bytea'::regtype)
          ORDER BY 1, 2`,
        [schema],
      );
      expect(rows.map((row) => `${row.table}.${row.column}`)).toEqual([
        'events.body',
        'hooks.body',
        'queue_messages.payload',
        'runs.body',
        'steps.body',
        'stream_chunks.data',
        'waits.body',
      ]);
      // attcompression is 'l' for lz4 ('' would mean the server's default, pglz unless configured).
      expect(rows.filter((row) => row.method !== 'l')).toEqual([]);
    } finally {
      await world.close();
    }
  });
});
