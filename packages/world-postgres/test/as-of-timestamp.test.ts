import type { World } from '@cairn/core/world';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { asOfSeqQuery } from '../src/postgres-prefetch.js';
import { connectionString, createTestWorld, freshSchema } from './helpers.js';

const opened: World[] = [];
const client = new pg.Client({ connectionString });
afterAll(async () => {
  await Promise.all(opened.map((world) => world.close()));
  await client.end();
});

/** A run of 2 + 3 × `batches` events, each batch of three sharing one stamp, later than the last. */
async function runWithSharedStamps(batches: number) {
  const schema = freshSchema();
  const world = createTestWorld({ schema });
  opened.push(world);
  await world.open();
  const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
  let stamp = Date.now() + 200;
  await world.events.createBatch(run.runId, [{ eventType: 'run_started' }], { createdAt: stamp });
  for (let batch = 0; batch < batches; batch++) {
    stamp = Math.max(stamp + 1, Date.now() + 200);
    const stepId = `s${batch}`;
    await world.events.createBatch(
      run.runId,
      [
        { eventType: 'step_created', correlationId: stepId, eventData: { stepName: 's', input: batch } },
        { eventType: 'step_started', correlationId: stepId },
        { eventType: 'step_completed', correlationId: stepId, eventData: { output: batch } },
      ],
      { createdAt: stamp },
    );
  }
  const events: { seq: number; createdAt: number }[] = [];
  for (let afterSeq = 0; ; ) {
    const page = await world.events.list(run.runId, { afterSeq, limit: 1000 });
    events.push(...page.data);
    if (!page.hasMore) break;
    afterSeq = page.data.at(-1)!.seq;
  }
  return { schema, runId: run.runId, events };
}

describe('resolving an asOfTimestamp tail without an index on created_at', () => {
  it('keeps only the primary key on events', async () => {
    await client.connect();
    const { schema } = await runWithSharedStamps(1);
    const { rows } = await client.query(
      `SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename = 'events'`,
      [schema],
    );
    expect(rows.map((row) => row.indexname)).toEqual(['events_pkey']);
  });

  it('finds the last event older than the instant, for every instant around every stamp', async () => {
    const { schema, runId, events } = await runWithSharedStamps(120);
    const query = asOfSeqQuery(`"${schema}".runs`, `"${schema}".events`, '$1', '$2::float8');
    const instants = new Set<number>([0, Number.MAX_SAFE_INTEGER]);
    for (const { createdAt } of events) for (const offset of [-1, -0.5, 0, 0.5, 1]) instants.add(createdAt + offset);
    for (const instant of instants) {
      const expected = events.filter((event) => event.createdAt < instant).at(-1)?.seq ?? null;
      const { rows } = await client.query(`SELECT (${query}) AS seq`, [runId, instant]);
      expect(rows[0].seq, `instant ${instant}`).toBe(expected);
    }
    const { rows } = await client.query(`SELECT (${query}) AS seq`, ['no-such-run', Date.now()]);
    expect(rows[0].seq).toBeNull();
  });

  it('reads about log2(events) rows, not the run', async () => {
    const { schema, runId, events } = await runWithSharedStamps(700);
    expect(events.length).toBeGreaterThan(2_000);
    const query = asOfSeqQuery(`"${schema}".runs`, `"${schema}".events`, '$1', '$2::float8');
    const middle = events[Math.floor(events.length / 3)]!.createdAt;
    const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) SELECT (${query}) AS seq`, [runId, middle]);
    const lookups: number[] = [];
    const walk = (node: Record<string, unknown>) => {
      if (node['Relation Name'] === 'events')
        lookups.push((node['Actual Loops'] as number) * (node['Actual Rows'] as number));
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    walk(rows[0]['QUERY PLAN'][0].Plan);
    expect(lookups).toHaveLength(1);
    expect(lookups[0]).toBeLessThanOrEqual(Math.ceil(Math.log2(events.length)) + 1);
  });
});
