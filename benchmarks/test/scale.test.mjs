// The scale benchmark's own logic, at a small scale: the seeded history is valid for the
// World (reads back as seeded, and the World's appends continue it under its entity rules),
// its delayed messages stay out of a consumer's way, and plans are summarized faithfully.
import {
  createEventRequestSchema,
  HookTokenConflictError,
  RunTerminalError,
  runSchema,
  stepSchema,
} from '@cairn/core/world';
import { createPostgresWorld } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kindOf, rowsOf, runNumberOf, seededRun, seededRunId, stepTopic, timelineOf } from '../src/scale/history.mjs';
import { listingStatement, queueStatementKind, RecordingPool, summarizePlan } from '../src/scale/plans.mjs';
import { addListingFixtures } from '../src/scale/probes.mjs';
import { renderScale } from '../src/scale/report.mjs';
import { seedHistory } from '../src/scale/seed.mjs';
import { checkListingPage, checkSeededRun } from '../src/scale/verify.mjs';

describe('the seeded history', () => {
  const timeline = timelineOf(100, Date.UTC(2026, 0, 1));

  it('holds 10 events per run on average, every request valid, every view valid', () => {
    let events = 0;
    for (let number = 0; number < timeline.runs; number++) {
      const seeded = seededRun(number, timeline);
      for (const { requests } of seeded.appends)
        for (const request of requests) createEventRequestSchema.parse(request);
      const rows = rowsOf(seeded);
      runSchema.parse(rows.run);
      for (const step of rows.steps) stepSchema.parse(step.body);
      expect(rows.events.map((event) => event.seq)).toEqual(rows.events.map((_, index) => index + 1));
      events += rows.events.length;
    }
    expect(events).toBe(1000);
  });

  it('puts the pending runs, those of a retired workflow, before all others', () => {
    const kinds = Array.from({ length: timeline.runs }, (_, number) => kindOf(number, timeline.runs).kind);
    expect(kinds.slice(0, 10)).toEqual(Array.from({ length: 10 }, () => 'pending'));
    expect(kinds.slice(10).filter((kind) => kind === 'pending')).toEqual([]);
  });

  it('carries the run number in a ULID-shaped run id', () => {
    const runId = seededRunId(123_456, Date.UTC(2026, 0, 1));
    expect(runId).toMatch(/^[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(runNumberOf(runId)).toBe(123_456);
    expect(runNumberOf('scale-running-3')).toBeUndefined();
  });
});

describe('seeded into PostgreSQL and read through the World', () => {
  const runs = 200;
  let server;
  let world;
  let admin;
  let seeding;

  beforeAll(async () => {
    server = await startPostgres('scale_seed');
    seeding = await seedHistory({ connectionString: server.connectionString, runs, messages: 100 });
    world = createPostgresWorld({ connectionString: server.connectionString });
    admin = new pg.Client({ connectionString: server.connectionString });
    await admin.connect();
  }, 60_000);

  afterAll(async () => {
    await world?.close();
    await admin?.end();
    await server?.stop();
  });

  it('writes the runs, events and messages it reports', async () => {
    expect(seeding).toMatchObject({ runs, events: 2000, messages: 100 });
    expect(seeding.byStatus).toEqual({ completed: 120, failed: 20, running: 40, pending: 20 });
    const { rows } = await admin.query(
      `SELECT (SELECT count(*) FROM cairn.events)::int AS events, (SELECT count(*) FROM cairn.queue_messages)::int AS messages`,
    );
    expect(rows[0]).toEqual({ events: 2000, messages: 100 });
  });

  it('reads back every run, its events and its steps, hooks and waits as seeded', async () => {
    for (let number = 0; number < runs; number++) {
      expect(await checkSeededRun(world, seeding.timeline, number)).toEqual([]);
    }
  });

  it('lists every run of each status, newest first, as seeded', async () => {
    for (const [status, count] of Object.entries(seeding.byStatus)) {
      let cursor;
      let listed = 0;
      do {
        const page = await world.runs.list({ status, limit: 7, ...(cursor === undefined ? {} : { cursor }) });
        expect(checkListingPage(page, seeding.timeline, status)).toEqual([]);
        listed += page.data.length;
        cursor = page.cursor ?? undefined;
      } while (cursor !== undefined);
      expect(listed).toBe(count);
    }
  });

  it("stores every row in the shape the World's own appends leave", async () => {
    // The same runs appended one batch at a time through a World on another schema: each
    // row must name the same payload events and leave the same keys to them.
    const numbers = [];
    for (const kind of ['pending', 'completed', 'failed', 'sleeping', 'awaiting-hook']) {
      let number = 0;
      while (kindOf(number, runs).kind !== kind) number++;
      numbers.push(number);
    }
    const replayed = createPostgresWorld({ connectionString: server.connectionString, schema: 'replayed' });
    try {
      for (const number of numbers) {
        const { runId, appends } = seededRun(number, seeding.timeline);
        for (const { requests } of appends) await replayed.events.createBatch(runId, requests);
      }
    } finally {
      await replayed.close();
    }
    const shapeOf = async (schema) => {
      const payloadKeys = `(SELECT coalesce(array_agg(key ORDER BY key), '{}') FROM json_each(body)
        WHERE json_typeof(value) = 'null')`;
      const { rows } = await admin.query(
        `SELECT 'run' AS kind, run_id, '' AS id, ARRAY[input_seq, outcome_seq] AS seqs, ${payloadKeys} AS nulls
           FROM ${schema}.runs WHERE run_id = ANY($1)
         UNION ALL
         SELECT 'step', run_id, step_id, ARRAY[input_seq, output_seq, error_seq], ${payloadKeys}
           FROM ${schema}.steps WHERE run_id = ANY($1)
         UNION ALL
         SELECT 'hook', run_id, hook_id, ARRAY[metadata_seq], ${payloadKeys}
           FROM ${schema}.hooks WHERE run_id = ANY($1)
         ORDER BY 1, 2, 3`,
        [numbers.map((number) => seededRun(number, seeding.timeline).runId)],
      );
      return rows;
    };
    const seeded = await shapeOf('cairn');
    expect(seeded).toEqual(await shapeOf('replayed'));
    // The history has payloads of both sizes, so both ways of keeping one are compared.
    expect(seeded.some((row) => row.seqs.some((seq) => seq !== null))).toBe(true);
    expect(seeded.some((row) => row.kind === 'step' && row.seqs.every((seq) => seq === null))).toBe(true);
  });

  it('fills the empty database with runs of each listed status, shaped as the seeded ones', async () => {
    const fixtures = createPostgresWorld({ connectionString: server.connectionString, schema: 'fixtures' });
    try {
      await addListingFixtures({ world: fixtures }, 3);
    } finally {
      await fixtures.close();
    }
    // The same fields as the seeded runs of each status (a pending run says why it waits).
    const fieldsByStatus = async (schema) =>
      (
        await admin.query(
          `SELECT status, array_agg(DISTINCT field ORDER BY field) AS fields
           FROM ${schema}.runs, json_object_keys(body) AS field
           WHERE status IN ('pending', 'running', 'completed') GROUP BY status ORDER BY status`,
        )
      ).rows;
    const fixtureFields = await fieldsByStatus('fixtures');
    expect(fixtureFields.map((row) => row.status)).toEqual(['completed', 'pending', 'running']);
    expect(fixtureFields).toEqual(await fieldsByStatus('cairn'));
    const { rows } = await admin.query('SELECT status, count(*)::int AS runs FROM fixtures.runs GROUP BY status');
    expect(rows.every((row) => row.runs === 3)).toBe(true);
  });

  it("is continued by the World's own appends under its entity rules", async () => {
    const { timeline } = seeding;
    const firstOf = (kind) => {
      let number = 0;
      while (kindOf(number, runs).kind !== kind) number++;
      return rowsOf(seededRun(number, timeline));
    };
    const sleeping = firstOf('sleeping');
    const [wait] = sleeping.waits;
    const woken = await world.events.create(
      sleeping.run.runId,
      { eventType: 'wait_completed', correlationId: wait.id },
      { lastKnownEventId: sleeping.run.lastEventId },
    );
    expect(woken.wait).toMatchObject({ status: 'completed' });
    const awaiting = firstOf('awaiting-hook');
    const [hook] = awaiting.hooks;
    const received = await world.events.create(awaiting.run.runId, {
      eventType: 'hook_received',
      correlationId: hook.id,
      eventData: { payload: { ok: true } },
    });
    expect(received.hook).toMatchObject({ receivedCount: 1, status: 'active' });
    const claim = world.events.createBatch(null, [
      { eventType: 'run_created', eventData: { workflowName: 'other' } },
      { eventType: 'hook_created', correlationId: 'hook:1', eventData: { token: hook.body.token } },
    ]);
    await expect(claim).rejects.toSatisfy((error) => HookTokenConflictError.is(error));
    const completed = firstOf('completed').run;
    const late = world.events.create(completed.runId, { eventType: 'run_cancelled' });
    await expect(late).rejects.toSatisfy((error) => RunTerminalError.is(error));
  });

  it('a consumer gets an immediate message, never the delayed ones', async () => {
    const delivered = [];
    let resolve;
    const received = new Promise((settle) => {
      resolve = settle;
    });
    const consumer = world.queue.consume(stepTopic, async (message) => {
      delivered.push(message.payload);
      resolve();
    });
    try {
      await world.queue.send(stepTopic, { probe: 1 });
      await received;
    } finally {
      await consumer.stop();
    }
    expect(delivered).toEqual([{ probe: 1 }]);
  });

  it('captures the statements the World sends for runs.list and the queue, for EXPLAIN', async () => {
    const pool = new RecordingPool({ connectionString: server.connectionString, max: 4 });
    const recorded = createPostgresWorld({ pool });
    try {
      const listing = listingStatement(await pool.capture(() => recorded.runs.list({ status: 'completed', limit: 5 })));
      expect(listing?.text).toContain('created_order');
      expect(listing.values).toContain('completed');
      const queued = await pool.capture(async () => {
        let delivered;
        const received = new Promise((resolve) => {
          delivered = resolve;
        });
        const consumer = recorded.queue.consume(stepTopic, async () => delivered());
        await recorded.queue.send(stepTopic, { probe: 2 });
        await received;
        await consumer.stop();
      });
      const kinds = queued.map((statement) => queueStatementKind(statement.text));
      expect(kinds).toContain('send');
      expect(kinds).toContain('claim');
      expect(await pool.capture(async () => {})).toEqual([]);
    } finally {
      await recorded.close();
      await pool.end();
    }
  });

  it('reports a seeded row the World reads back differently', async () => {
    const { runId } = seededRun(3, seeding.timeline);
    await admin.query(`UPDATE cairn.runs SET body = json_build_object('runId', run_id) WHERE run_id = $1`, [runId]);
    const problems = await checkSeededRun(world, seeding.timeline, 3);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain(`runs.get(${runId})`);
  });
});

describe('plans and the report', () => {
  const plan = {
    'Node Type': 'Limit',
    'Actual Rows': 51,
    'Shared Hit Blocks': 180,
    'Shared Read Blocks': 12,
    Plans: [
      {
        'Node Type': 'Index Scan',
        'Index Name': 'runs_created_order_key',
        Filter: "(status = 'running'::text)",
        'Rows Removed by Filter': 201,
      },
      { 'Node Type': 'Seq Scan', 'Relation Name': 'queue_groups' },
      { 'Node Type': 'Seq Scan', 'Relation Name': 'events' },
    ],
  };

  it('names the indexes, the sequential scans of history tables, the rows filtered out and the pages touched', () => {
    expect(summarizePlan(plan)).toMatchObject({
      indexes: ['runs_created_order_key'],
      sequentialScans: ['queue_groups', 'events'],
      sequentialScansOfHistory: ['events'],
      rowsReturned: 51,
      rowsFiltered: 201,
      pagesHit: 180,
      pagesRead: 12,
    });
    expect(queueStatementKind('SELECT m.x FROM t m LIMIT $2 FOR UPDATE OF m SKIP LOCKED')).toBe('claim');
    expect(queueStatementKind('INSERT INTO "cairn".queue_messages AS m (message_id)')).toBe('send');
    expect(queueStatementKind('SELECT "cairn".queue_send($1, $2) AS inserted')).toBe('send');
  });

  it('renders the ratios, verdicts and plans into the Scale section', () => {
    const summary = (median) => ({ n: 3, median, p95: median, min: median, max: median });
    const markdown = renderScale({
      status: 'ok',
      flatLimit: 1.5,
      seeded: {
        runs: 10,
        events: 100,
        steps: 35,
        hooks: 1,
        waits: 2,
        messages: 10,
        byStatus: { completed: 10 },
        seconds: 1,
      },
      measurements: [
        { title: 'append', detail: 'fenced', empty: summary(2), seeded: summary(5), ratio: 2.5, verdict: 'GROWS' },
      ],
      plans: [{ query: 'runs.list', ...summarizePlan(plan) }],
      checks: ['runs.get'],
    }).join('\n');
    expect(markdown).toContain('| append | 2.00 (2.00) | 5.00 (5.00) | 2.50× | GROWS | fenced, n=3 |');
    expect(markdown).toContain(
      '| runs.list | runs_created_order_key | queue_groups, **events** | 51 / 201 | 180 / 12 |',
    );
  });
});
