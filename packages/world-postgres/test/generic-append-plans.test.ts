import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, createTestWorld, freshSchema } from './helpers.js';

// append_batch's statements were planned afresh on every call, because their generic plans
// looked dearer than planning; the function now keeps generic plans, and no statement of it
// may then read more of a run than the rows its batch names.

/**
 * A pool whose connections report the plan of every statement they run, nested ones
 * included (PostgreSQL's auto_explain, sent to the client as notices).
 */
function explainingPool(plans: string[]): pg.Pool {
  const settings = [
    'session_preload_libraries=auto_explain',
    'auto_explain.log_min_duration=0',
    'auto_explain.log_nested_statements=on',
    'auto_explain.log_level=notice',
  ];
  const pool = new pg.Pool({ connectionString, options: settings.map((setting) => `-c ${setting}`).join(' ') });
  pool.on('connect', (client) => client.on('notice', (notice) => plans.push(notice.message ?? '')));
  return pool;
}

describe('world-postgres append plans', () => {
  const admin = new pg.Client({ connectionString });
  beforeAll(() => admin.connect());
  afterAll(() => admin.end());

  it('runs append_batch with generic plans, and only the function the World calls', async () => {
    const schema = freshSchema();
    const world = createTestWorld({ schema });
    await world.open?.();
    try {
      const { rows } = await admin.query<{ arguments: number; config: string[] | null }>(
        `SELECT pronargs AS arguments, proconfig AS config FROM pg_proc
         WHERE proname = 'append_batch' AND pronamespace = $1::regnamespace ORDER BY pronargs`,
        [`"${schema}"`],
      );
      // Migration 3's function (51 arguments) is what a World of that version calls, and
      // migration 10's (62) now calls migration 11's, whose statements run as planned here.
      expect(rows).toEqual([
        { arguments: 51, config: null },
        { arguments: 62, config: null },
        { arguments: 63, config: ['plan_cache_mode=force_generic_plan'] },
      ]);
    } finally {
      await world.close();
    }
  });

  it('updates a step, a hook and a wait of a long run by key, without reading the rest of the run', async () => {
    const plans: string[] = [];
    const pool = explainingPool(plans);
    const world = createPostgresWorld({ pool, schema: freshSchema() });
    await world.open?.();
    try {
      const { run } = await world.events.create(null, {
        eventType: 'run_created',
        eventData: { workflowName: 'long', input: null },
      });
      const many = (
        eventType: 'step_created' | 'hook_created' | 'wait_created',
        prefix: string,
        data: (index: number) => object,
      ) =>
        Array.from({ length: 600 }, (_, index) => ({
          eventType,
          correlationId: `${prefix}-${index}`,
          eventData: data(index),
        }));
      let tail = run.lastEventId;
      for (const batch of [
        many('step_created', 'step', (index) => ({ stepName: 'long.item', input: { index } })),
        many('hook_created', 'hook', (index) => ({ token: `token-${index}` })),
        many('wait_created', 'wait', () => ({ resumeAt: Date.now() + 60_000 })),
      ]) {
        const results = await world.events.createBatch(run.runId, batch as never, { lastKnownEventId: tail });
        tail = results.at(-1)?.event.eventId ?? tail;
      }
      // Every connection has now planned the function's statements for an append of many rows.
      plans.length = 0;
      await world.events.createBatch(
        run.runId,
        [
          { eventType: 'step_started', correlationId: 'step-5' },
          { eventType: 'hook_received', correlationId: 'hook-5', eventData: { payload: 1 } },
          { eventType: 'wait_completed', correlationId: 'wait-5' },
        ],
        { lastKnownEventId: tail },
      );
      for (const table of ['steps', 'hooks', 'waits']) {
        const plan = plans.find((text) => text.includes(`Update on ${table}`));
        expect(plan, `the plan of the update of ${table}`).toBeDefined();
        expect(plan).toContain(`Index Scan using ${table}_pkey`);
        expect(plan).not.toMatch(/Seq Scan|Bitmap Heap Scan/);
      }
      expect((await world.steps.get(run.runId, 'step-5')).status).toBe('running');
      expect((await world.hooks.get(run.runId, 'hook-5')).receivedCount).toBe(1);
      expect((await world.waits.get(run.runId, 'wait-5')).status).toBe('completed');
    } finally {
      await world.close();
      await pool.end();
    }
  });

  it('appends a batch of a thousand events and steps with those plans', async () => {
    const world = createTestWorld();
    await world.open?.();
    try {
      const { run } = await world.events.create(null, {
        eventType: 'run_created',
        eventData: { workflowName: 'wide', input: null },
      });
      const created = Array.from({ length: 1000 }, (_, index) => ({
        eventType: 'step_created' as const,
        correlationId: `step-${index}`,
        eventData: { stepName: 'wide.item', input: { index, text: 'x'.repeat(100) } },
      }));
      await world.events.createBatch(run.runId, created, { lastKnownEventId: run.lastEventId });
      const steps = await world.steps.list(run.runId, { limit: 1000 });
      expect(steps.data).toHaveLength(1000);
      expect(steps.data[999]).toMatchObject({ stepId: 'step-999', input: { index: 999 } });
      const first = await world.events.list(run.runId, { limit: 1000 });
      const rest = await world.events.list(run.runId, { afterSeq: first.data.at(-1)?.seq, limit: 1000 });
      const seqs = [...first.data, ...rest.data].map((event) => event.seq);
      expect(seqs).toEqual(Array.from({ length: 1001 }, (_, index) => index + 1));
    } finally {
      await world.close();
    }
  });
});
