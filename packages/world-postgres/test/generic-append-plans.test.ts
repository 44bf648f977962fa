import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, freshSchema } from './helpers.js';

// append_batch's statements kept being planned afresh on every call, because their generic
// plans looked dearer than planning; the function now keeps its generic plans.

describe('world-postgres append plans', () => {
  const admin = new pg.Client({ connectionString });
  beforeAll(() => admin.connect());
  afterAll(() => admin.end());

  it('runs append_batch with generic plans, and only the function the World calls', async () => {
    const schema = freshSchema();
    const world = createPostgresWorld({ connectionString, schema });
    await world.open?.();
    try {
      const { rows } = await admin.query<{ arguments: number; config: string[] | null }>(
        `SELECT pronargs AS arguments, proconfig AS config FROM pg_proc
         WHERE proname = 'append_batch' AND pronamespace = $1::regnamespace ORDER BY pronargs`,
        [`"${schema}"`],
      );
      // Migration 3's function (51 arguments) is what a World of that version calls.
      expect(rows).toEqual([
        { arguments: 51, config: null },
        { arguments: 62, config: ['plan_cache_mode=force_generic_plan'] },
      ]);
    } finally {
      await world.close();
    }
  });

  it('appends a batch of a thousand events and steps with those plans', async () => {
    const world = createPostgresWorld({ connectionString, schema: freshSchema() });
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
