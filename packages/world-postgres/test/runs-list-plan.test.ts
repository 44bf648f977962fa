import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, freshSchema, observingClient } from './helpers.js';

/** A real pool that remembers the statements sent on its connections, so their plans can be examined. */
class RecordingPool extends pg.Pool {
  statements: { text: string; values: unknown[] }[] = [];
  constructor(config: pg.PoolConfig) {
    const seen: { pool?: RecordingPool } = {};
    super({
      ...config,
      Client: observingClient((statement) => {
        if (seen.pool && statement.text !== '') seen.pool.statements.push(statement);
      }),
    });
    seen.pool = this;
  }
}

/** Sums a JSON plan's "Rows Removed by Filter" over every node. */
function rowsRemoved(node: Record<string, unknown>): number {
  const own = typeof node['Rows Removed by Filter'] === 'number' ? (node['Rows Removed by Filter'] as number) : 0;
  const children = (node.Plans as Record<string, unknown>[] | undefined) ?? [];
  return own + children.reduce((sum, child) => sum + rowsRemoved(child), 0);
}

const pool = new RecordingPool({ connectionString });
afterAll(() => pool.end());

describe('world-postgres: runs.list at scale', () => {
  it('reads a page of the oldest status without walking every newer run', async () => {
    const schema = freshSchema();
    const world = createPostgresWorld({ pool, schema });
    try {
      await world.runs.list(); // creates the schema
      // 20,000 runs in bulk, the oldest 2,000 of them pending (a retired workflow's leftovers).
      await pool.query(
        `INSERT INTO "${schema}".runs (run_id, workflow_name, status, created_at, updated_at, last_seq, body)
         SELECT 'run-' || n, 'w', status, n, n, 1, json_build_object(
           'runId', 'run-' || n, 'workflowName', 'w', 'status', status, 'createdAt', n, 'updatedAt', n,
           'lastSeq', 1, 'lastEventId', 'evt_000000000001')
         FROM generate_series(1, 20000) AS n,
           LATERAL (SELECT CASE WHEN n <= 2000 THEN 'pending' ELSE 'completed' END AS status) AS s`,
      );
      // As autovacuum would leave it: statistics gathered and the visibility map set.
      await pool.query(`VACUUM ANALYZE "${schema}".runs`);
      pool.statements = [];
      const page = await world.runs.list({ status: 'pending', limit: 50 });
      expect(page.data.map((run) => run.runId)).toEqual(Array.from({ length: 50 }, (_, i) => `run-${2000 - i}`));
      const listing = pool.statements.find((statement) => statement.text.includes('ORDER BY'));
      expect(listing).toBeDefined();
      const { rows } = await pool.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${listing!.text}`, listing!.values);
      const plan = (rows[0] as { 'QUERY PLAN': [{ Plan: Record<string, unknown> }] })['QUERY PLAN'][0].Plan;
      // Walking newest first and filtering would discard all 18,000 completed runs.
      expect(rowsRemoved(plan)).toBeLessThan(100);
    } finally {
      await world.close();
    }
  });
});
