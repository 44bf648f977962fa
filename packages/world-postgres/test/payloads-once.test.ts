import {
  type CreateEventRequest,
  nextCommitStamp,
  RunDraft,
  type RunEntityReader,
  type World,
} from '@cairn/core/world';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { latestVersion, migrations } from '../src/migrations.js';
import { connectionString, freshSchema } from './helpers.js';

const admin = new pg.Pool({ connectionString, max: 2 });
const opened: World[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
});
afterAll(() => admin.end());

function open(schema: string): World {
  const world = createPostgresWorld({ connectionString, schema });
  opened.push(world);
  return world;
}

/** About 10 KB, starting with a label that appears nowhere else. */
const payload = (label: string) => `${label}:${'0123456789'.repeat(1024)}`;
const labels = ['RUN-INPUT', 'RUN-META', 'RUN-OUTPUT', 'S1-INPUT', 'S1-OUTPUT', 'S1-ERROR', 'HOOK-META'];

/** The text of every view row of the run, and of its events, as stored. */
async function storedText(schema: string, runId: string) {
  const text = async (table: string) =>
    (await admin.query(`SELECT body::text AS body FROM "${schema}".${table} WHERE run_id = $1`, [runId])).rows
      .map((row: { body: string }) => row.body)
      .join('\n');
  return {
    views: [await text('runs'), await text('steps'), await text('hooks')].join('\n'),
    events: await text('events'),
  };
}

const same = (actual: unknown, expected: unknown) => expect(JSON.stringify(actual)).toBe(JSON.stringify(expected));

describe('world-postgres: each payload is stored once, in its event', () => {
  it('keeps payloads out of the view rows, and every view still returns them exactly', async () => {
    const schema = freshSchema();
    const world = open(schema);
    await world.runs.list(); // migrates, so the first stamp is not spent waiting for it
    // Stamps a little ahead of the database's clock, as the engine proposes them: such
    // appends go in one round trip, from what this World cached of the run.
    const stamp = () => ({ createdAt: Date.now() + 500 });
    const error = { name: 'Error', message: payload('S1-ERROR') };
    const [created] = await world.events.createBatch(
      null,
      [
        {
          eventType: 'run_created',
          eventData: { workflowName: 'w', input: payload('RUN-INPUT'), metadata: { note: payload('RUN-META') } },
        },
      ],
      stamp(),
    );
    const runId = created!.run.runId;
    const results = [created!];
    const append = async (requests: CreateEventRequest[], warm = true) => {
      const answered = await world.events.createBatch(runId, requests, warm ? stamp() : undefined);
      results.push(...answered);
      return answered.at(-1)!;
    };
    await append([
      { eventType: 'run_started' },
      { eventType: 'step_created', correlationId: 's1', eventData: { stepName: 's', input: payload('S1-INPUT') } },
      { eventType: 'step_started', correlationId: 's1' },
    ]);
    // A retry's error stays on the step through its next start and its completion.
    await append([{ eventType: 'step_retrying', correlationId: 's1', eventData: { error } }]);
    await append([{ eventType: 'step_started', correlationId: 's1' }], false);
    const completed = await append([
      { eventType: 'step_completed', correlationId: 's1', eventData: { output: payload('S1-OUTPUT') } },
    ]);
    const hooked = await append(
      [
        {
          eventType: 'hook_created',
          correlationId: 'h1',
          eventData: { token: 'tok-1', metadata: payload('HOOK-META') },
        },
      ],
      false,
    );
    const received = await append([{ eventType: 'hook_received', correlationId: 'h1' }], false);
    const ended = await append([{ eventType: 'run_completed', eventData: { output: payload('RUN-OUTPUT') } }], false);

    const stored = await storedText(schema, runId);
    for (const label of labels) {
      expect(stored.views).not.toContain(label);
      expect(stored.events.split(label).length - 1).toBe(1);
    }

    const step = completed.step!;
    expect(step.error).toEqual(error);
    expect(step.output).toBe(payload('S1-OUTPUT'));
    same(await world.steps.get(runId, 's1'), step);
    same((await world.steps.list(runId)).data, [step]);
    const run = ended.run;
    expect(run.input).toBe(payload('RUN-INPUT'));
    same(await world.runs.get(runId), run);
    same((await world.runs.list()).data, [run]);
    // A watch that sees the run end hands over the ended run.
    same((await world.events.watch(runId, run.lastSeq - 1))?.run, run);
    for (const view of [hooked.hook, received.hook]) expect(view!.metadata).toBe(payload('HOOK-META'));
    // The run's end disposed the hook, as the entity rules dispose one.
    const at = ended.event.createdAt;
    const disposed = { ...received.hook!, status: 'disposed', updatedAt: at, disposedAt: at };
    same(await world.hooks.get(runId, 'h1'), disposed);
    same((await world.hooks.list(runId)).data, [disposed]);
    // Every step view an append answered with carried the step's input.
    const steps = results.flatMap((result) => (result.step ? [result.step] : []));
    expect(steps.every((view) => view.input === payload('S1-INPUT'))).toBe(true);
  });

  it('reads an active hook by its token with its metadata, and steps large and small page by page', async () => {
    const schema = freshSchema();
    const world = open(schema);
    const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    const hook = await world.events.create(run.runId, {
      eventType: 'hook_created',
      correlationId: 'h1',
      eventData: { token: 'tok-2', metadata: { big: payload('HOOK-META') } },
    });
    same(await world.hooks.getByToken('tok-2'), hook.hook);
    const views = [];
    // A small payload stays in its row; the views do not tell the two apart.
    for (const [stepId, input] of [
      ['a', payload('INPUT-a')],
      ['b', { small: 1 }],
      ['c', payload('INPUT-c')],
    ] as const) {
      const { step } = await world.events.create(run.runId, {
        eventType: 'step_created',
        correlationId: stepId,
        eventData: { stepName: 's', input },
      });
      views.push(step);
    }
    const first = await world.steps.list(run.runId, { limit: 2 });
    const second = await world.steps.list(run.runId, { limit: 2, cursor: first.cursor! });
    same([...first.data, ...second.data], views);
    expect(second.cursor).toBeNull();
    const { rows } = await admin.query(`SELECT step_id, input_seq FROM "${schema}".steps ORDER BY step_id`);
    expect(rows).toEqual([
      { step_id: 'a', input_seq: 3 },
      { step_id: 'b', input_seq: null },
      { step_id: 'c', input_seq: 5 },
    ]);
  });

  it('reads rows written before migration 4, whose bodies hold the payloads, and appends to them', async () => {
    const schema = freshSchema();
    const quoted = `"${schema}"`;
    // The schema as version 3 left it.
    await admin.query(`CREATE SCHEMA ${quoted}`);
    await admin.query(
      `CREATE TABLE ${quoted}.cairn_migrations (version integer PRIMARY KEY, name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    for (const migration of migrations.filter((each) => each.version <= 3)) {
      await admin.query(migration.sql.replaceAll('{{schema}}', quoted));
      await admin.query(`INSERT INTO ${quoted}.cairn_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    }
    // A run drafted by the entity rules and written as migration 3's append_batch wrote it:
    // every view whole in its row's body.
    const runId = 'old-run';
    const nothing: RunEntityReader = {
      step: () => undefined,
      hook: () => undefined,
      wait: () => undefined,
      tokenHolder: () => undefined,
      deliveryHolder: () => undefined,
      activeHooks: () => [],
    };
    const draft = new RunDraft(runId, undefined, nothing);
    const error = { name: 'Error', message: payload('S1-ERROR') };
    const requests: CreateEventRequest[] = [
      {
        eventType: 'run_created',
        eventData: { workflowName: 'w', input: payload('RUN-INPUT'), metadata: { note: payload('RUN-META') } },
      },
      { eventType: 'run_started' },
      { eventType: 'step_created', correlationId: 's1', eventData: { stepName: 's', input: payload('S1-INPUT') } },
      { eventType: 'step_started', correlationId: 's1' },
      { eventType: 'step_retrying', correlationId: 's1', eventData: { error } },
      { eventType: 'step_started', correlationId: 's1' },
      { eventType: 'hook_created', correlationId: 'h1', eventData: { token: 'tok-3', metadata: payload('HOOK-META') } },
    ];
    const at = Date.now() - 60_000;
    for (const request of requests) draft.apply(request, nextCommitStamp(draft.run, at));
    const run = draft.run!;
    for (const event of draft.events) {
      await admin.query(`INSERT INTO ${quoted}.events (run_id, seq, created_at, body) VALUES ($1, $2, $3, $4)`, [
        runId,
        event.seq,
        event.createdAt,
        JSON.stringify(event),
      ]);
    }
    await admin.query(
      `INSERT INTO ${quoted}.runs (run_id, workflow_name, status, created_at, updated_at, last_seq, body)
       VALUES ($1, 'w', $2, $3, $4, $5, $6)`,
      [runId, run.status, run.createdAt, run.updatedAt, run.lastSeq, JSON.stringify(run)],
    );
    const oldStep = draft.steps.get('s1')!;
    await admin.query(`INSERT INTO ${quoted}.steps (run_id, step_id, created_seq, body) VALUES ($1, 's1', 3, $2)`, [
      runId,
      JSON.stringify(oldStep),
    ]);
    const oldHook = draft.hooks.get('h1')!;
    await admin.query(
      `INSERT INTO ${quoted}.hooks (run_id, hook_id, created_seq, token, active, body) VALUES ($1, 'h1', 7, 'tok-3', true, $2)`,
      [runId, JSON.stringify(oldHook)],
    );

    // Opening the World applies migration 4; the old rows read as they were written.
    const world = open(schema);
    same(await world.runs.get(runId), run);
    same((await world.runs.list()).data, [run]);
    same(await world.steps.get(runId, 's1'), oldStep);
    same((await world.steps.list(runId)).data, [oldStep]);
    same(await world.hooks.get(runId, 'h1'), oldHook);
    same(await world.hooks.getByToken('tok-3'), oldHook);
    expect((await admin.query(`SELECT max(version) AS version FROM ${quoted}.cairn_migrations`)).rows[0].version).toBe(
      latestVersion,
    );

    // Appending to them: each view keeps its payloads, and the rows rewritten drop what
    // their events hold. The step's error came from an event before the upgrade, so its
    // row, which names no event for it, keeps it.
    const { step } = await world.events.create(runId, {
      eventType: 'step_completed',
      correlationId: 's1',
      eventData: { output: payload('S1-OUTPUT') },
    });
    expect(step!.error).toEqual(error);
    expect(step!.input).toBe(payload('S1-INPUT'));
    same(await world.steps.get(runId, 's1'), step);
    const ended = await world.events.create(runId, { eventType: 'run_completed', eventData: { output: 'done' } });
    same(await world.runs.get(runId), ended.run);
    expect(ended.run.input).toBe(payload('RUN-INPUT'));
    const endedAt = ended.event.createdAt;
    same(await world.hooks.get(runId, 'h1'), {
      ...oldHook,
      status: 'disposed',
      updatedAt: endedAt,
      disposedAt: endedAt,
    });
    const stored = await storedText(schema, runId);
    for (const label of ['RUN-INPUT', 'RUN-META', 'S1-INPUT', 'S1-OUTPUT', 'HOOK-META']) {
      expect(stored.views).not.toContain(label);
    }
    expect(stored.views).toContain('S1-ERROR');
  });
});
