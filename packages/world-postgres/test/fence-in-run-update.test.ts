import { FenceConflictError, type World } from '@cairn/core/world';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { connectionString, createTestWorld, freshSchema } from './helpers.js';

const opened: World[] = [];
const admin = new pg.Client({ connectionString });
afterAll(async () => {
  await Promise.all(opened.map((world) => world.close()));
  await admin.end();
});

/** WAL records PostgreSQL logged for `table` of `schema` while `work` ran, by kind. */
async function walRecordsOn(schema: string, table: string, work: () => Promise<unknown>): Promise<string[]> {
  const node = (
    await admin.query(`SELECT relfilenode::text AS node FROM pg_class WHERE oid = $1::regclass`, [
      `"${schema}".${table}`,
    ])
  ).rows[0].node as string;
  // The flushed position, not the insert position: pg_walinspect refuses an end past the
  // flush, which other test files' unflushed writes can put the insert position beyond. The
  // work's own commits are flushed before it returns, so its records all lie before the end.
  const position = async () => (await admin.query('SELECT pg_current_wal_flush_lsn() AS lsn')).rows[0].lsn as string;
  const start = await position();
  await work();
  const end = await position();
  const { rows } = await admin.query(
    `SELECT resource_manager || '/' || record_type AS kind, block_ref FROM pg_get_wal_records_info($1, $2)`,
    [start, end],
  );
  return rows.filter((row) => new RegExp(`rel \\d+/\\d+/${node}\\b`).test(row.block_ref ?? '')).map((row) => row.kind);
}

describe('a warm fenced append', () => {
  // The one-round-trip append the engine makes (a proposed stamp, a run this World wrote last).
  it('checks the tail with the run row update itself, logging no separate row lock', async () => {
    await admin.connect();
    await admin.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
    const schema = freshSchema();
    const world = createTestWorld({ schema });
    opened.push(world);
    await world.open();
    const { run, event } = await world.events.create(null, {
      eventType: 'run_created',
      eventData: { workflowName: 'w' },
    });
    let last = event.eventId;
    const kinds = await walRecordsOn(schema, 'runs', async () => {
      for (let index = 0; index < 5; index++) {
        const appended = await world.events.create(
          run.runId,
          index === 0
            ? { eventType: 'run_started' }
            : { eventType: 'step_created', correlationId: `s${index}`, eventData: { stepName: 's', input: index } },
          { lastKnownEventId: last, createdAt: Date.now() + 2_000 },
        );
        last = appended.event.eventId;
      }
    });
    // Five appends, each updating the run's row once, and no lock record beside them.
    expect(kinds.filter((kind) => kind.startsWith('Heap/') && kind.includes('UPDATE'))).toHaveLength(5);
    expect(kinds).not.toContain('Heap/LOCK');

    // The fence still holds: a stale tail writes nothing.
    await expect(
      world.events.create(
        run.runId,
        { eventType: 'run_completed', eventData: { output: 1 } },
        { lastKnownEventId: event.eventId },
      ),
    ).rejects.toSatisfy(FenceConflictError.is);
    const after = await world.runs.get(run.runId);
    expect(after.status).toBe('running');
    expect(after.lastEventId).toBe(last);
    expect((await world.events.list(run.runId)).data).toHaveLength(6);
  });
});
