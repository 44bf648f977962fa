import {
  type CreateEventRequest,
  DuplicateDeliveryError,
  nextCommitStamp,
  RunDraft,
  type RunEntityReader,
  type World,
} from '@cairn/core/world';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { migrations } from '../src/migrations.js';
import { connectionString, freshSchema, observingClient } from './helpers.js';

const admin = new pg.Pool({ connectionString, max: 2 });
const pools: pg.Pool[] = [];
const opened: World[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
});
afterAll(() => Promise.all([admin, ...pools].map((pool) => pool.end())));

/** A World on a pool of `max` connections, and the text of every statement it sent that calls `append_batch`. */
function observedWorld(max: number): { world: World; calls: string[] } {
  const calls: string[] = [];
  const pool = new pg.Pool({
    connectionString,
    max,
    Client: observingClient(({ text }) => {
      if (text.includes('.append_batch(')) calls.push(text);
    }),
  });
  pools.push(pool);
  const world = createPostgresWorld({ pool, schema: freshSchema() });
  opened.push(world);
  return { world, calls };
}

/** A stamp a little ahead of the database clock: such an append goes in one statement from the cached run. */
const ahead = () => ({ createdAt: Date.now() + 500 });
const delivery = (hookId: string, deliveryId: string, payload: unknown = null) =>
  ({ eventType: 'hook_received', correlationId: hookId, eventData: { payload, deliveryId } }) as CreateEventRequest;
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

/** A run this World created, holding hook h1, which already received the delivery `order-1`. */
async function runWithDelivery(world: World): Promise<string> {
  const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
  await world.events.createBatch(
    run.runId,
    [{ eventType: 'run_started' }, { eventType: 'hook_created', correlationId: 'h1', eventData: { token: run.runId } }],
    ahead(),
  );
  await world.events.create(run.runId, delivery('h1', 'order-1'), ahead());
  return run.runId;
}

describe('world-postgres: a delivery id the run holds is refused by the store', () => {
  it('refuses a repeat sent in one statement from the cached run, naming the hook, and writes nothing', async () => {
    const { world, calls } = observedWorld(10);
    const runId = await runWithDelivery(world);
    const before = await world.runs.get(runId);
    calls.length = 0;
    const refused = await refusal(world.events.create(runId, delivery('h1', 'order-1'), ahead()));
    expect(DuplicateDeliveryError.is(refused)).toBe(true);
    expect(refused).toMatchObject({ runId, deliveryId: 'order-1', hookId: 'h1' });
    // The cached run let it go as the one prepared call; the key refused it, and the long
    // way's draft named the holder.
    expect(calls[0]).toMatch(/append_batch\(\$1, /);
    expect(await world.runs.get(runId)).toEqual(before);
    expect((await world.hooks.get(runId, 'h1')).receivedCount).toBe(1);
    expect((await world.events.list(runId)).data).toHaveLength(before.lastSeq);
  });

  it('refuses a repeat in a grouped statement, while the other appends of the group commit', async () => {
    // A pool of two: one statement of appends at a time, and those that arrive meanwhile go together.
    const { world, calls } = observedWorld(2);
    const runIds: string[] = [];
    for (let index = 0; index < 5; index++) runIds.push(await runWithDelivery(world));
    const repeated = runIds[3]!;
    calls.length = 0;
    const outcomes = await Promise.allSettled(
      runIds.map((runId) =>
        world.events.create(runId, delivery('h1', runId === repeated ? 'order-1' : 'order-2'), ahead()),
      ),
    );
    // The first alone; the other four as one statement, which the repeat's key refused.
    expect(calls.slice(0, 2).map((text) => text.match(/append_batch\(/g)?.length)).toEqual([1, 4]);
    for (const [index, runId] of runIds.entries()) {
      const outcome = outcomes[index]!;
      if (runId === repeated) {
        const reason = outcome.status === 'rejected' ? outcome.reason : undefined;
        expect(DuplicateDeliveryError.is(reason)).toBe(true);
        expect(reason).toMatchObject({ runId, deliveryId: 'order-1', hookId: 'h1' });
      } else {
        expect(outcome.status).toBe('fulfilled');
      }
      expect((await world.hooks.get(runId, 'h1')).receivedCount).toBe(runId === repeated ? 1 : 2);
      expect((await world.runs.get(runId)).lastSeq).toBe(runId === repeated ? 4 : 5);
    }
  });

  it('lets one of two Worlds racing the same delivery id write it, and refuses the other by name', async () => {
    const schema = freshSchema();
    const [first, second] = [0, 1].map(() => createPostgresWorld({ connectionString, schema }));
    opened.push(first!, second!);
    const runId = await runWithDelivery(first!);
    for (const deliveryId of ['race-1', 'race-2', 'race-3']) {
      // One stamp for both: with a stamp a millisecond older than the winner's, the loser
      // would be refused for its stamp before the store looked at its delivery id.
      const stamp = ahead();
      const outcomes = await Promise.allSettled(
        [first!, second!].map((world) => world.events.create(runId, delivery('h1', deliveryId), stamp)),
      );
      const losers = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
      expect(losers).toHaveLength(1);
      expect(DuplicateDeliveryError.is(losers[0]), String(losers[0])).toBe(true);
    }
    expect((await first!.hooks.get(runId, 'h1')).receivedCount).toBe(4);
  });
});

describe('world-postgres: migration 9 fills the delivery ids from the events already logged', () => {
  it('refuses a repeat of a delivery logged before it, keeping the first of an id logged twice', async () => {
    const schema = freshSchema();
    const quoted = `"${schema}"`;
    // The schema as version 8 left it.
    await admin.query(`CREATE SCHEMA ${quoted}`);
    await admin.query(
      `CREATE TABLE ${quoted}.cairn_migrations (version integer PRIMARY KEY, name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    for (const migration of migrations.filter((each) => each.version <= 8)) {
      await admin.query(migration.sql.replaceAll('{{schema}}', quoted));
      await admin.query(`INSERT INTO ${quoted}.cairn_migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
    }
    // A log as that version wrote it, with `old-1` delivered twice (an attempt that
    // committed after its retry): on h1, then on h2. Payloads hold a NUL and half a
    // surrogate pair, which PostgreSQL's JSON operators refuse to read; one id holds a
    // backslash followed by the text of such an escape.
    const runId = 'old-run';
    const at = Date.now() - 60_000;
    const odd = String.raw`odd\u0000id`;
    const first = new RunDraft(runId, undefined, reader());
    for (const request of [
      { eventType: 'run_created', eventData: { workflowName: 'w' } },
      { eventType: 'run_started' },
      { eventType: 'hook_created', correlationId: 'h1', eventData: { token: 'tok-1' } },
      { eventType: 'hook_created', correlationId: 'h2', eventData: { token: 'tok-2' } },
      delivery('h1', 'old-1', 'a\u0000b\ud800'),
      delivery('h2', odd, { text: 'c\u0000' }),
    ] as CreateEventRequest[]) {
      first.apply(request, nextCommitStamp(first.run, at));
    }
    // The repeat, drafted from a reader that knows no delivery ids, as that version's was.
    const second = new RunDraft(runId, first.run, reader(first));
    second.apply(delivery('h2', 'old-1', 'again'), nextCommitStamp(second.run, at));
    const events = [...first.events, ...second.events];
    for (const event of events) {
      await admin.query(`INSERT INTO ${quoted}.events (run_id, seq, created_at, body) VALUES ($1, $2, $3, $4)`, [
        runId,
        event.seq,
        event.createdAt,
        JSON.stringify(event),
      ]);
    }
    const run = second.run!;
    await admin.query(
      `INSERT INTO ${quoted}.runs (run_id, workflow_name, status, created_at, updated_at, last_seq, body)
       VALUES ($1, 'w', $2, $3, $4, $5, $6)`,
      [runId, run.status, run.createdAt, run.updatedAt, run.lastSeq, JSON.stringify(run)],
    );
    for (const [hookId, createdSeq] of [
      ['h1', 3],
      ['h2', 4],
    ] as const) {
      const hook = second.hooks.get(hookId) ?? first.hooks.get(hookId)!;
      await admin.query(
        `INSERT INTO ${quoted}.hooks (run_id, hook_id, created_seq, token, active, body) VALUES ($1, $2, $3, $4, true, $5)`,
        [runId, hookId, createdSeq, hook.token, JSON.stringify(hook)],
      );
    }

    // Opening the World applies migration 9.
    const world = createPostgresWorld({ connectionString, schema });
    opened.push(world);
    const repeat = await refusal(world.events.create(runId, delivery('h2', 'old-1')));
    expect(DuplicateDeliveryError.is(repeat)).toBe(true);
    expect(repeat).toMatchObject({ runId, deliveryId: 'old-1', hookId: 'h1' });
    const oddRepeat = await refusal(world.events.create(runId, delivery('h1', odd)));
    expect(oddRepeat).toMatchObject({ deliveryId: odd, hookId: 'h2' });
    const { rows } = await admin.query(
      `SELECT delivery_id, hook_id FROM ${quoted}.hook_deliveries WHERE run_id = $1 ORDER BY delivery_id`,
      [runId],
    );
    expect(rows).toEqual([
      { delivery_id: odd, hook_id: 'h2' },
      { delivery_id: 'old-1', hook_id: 'h1' },
    ]);
    // The log keeps both copies, as committed; a new id is taken.
    expect((await world.events.list(runId)).data).toEqual(events);
    await world.events.create(runId, delivery('h2', 'new-1'));
    expect((await world.hooks.get(runId, 'h2')).receivedCount).toBe(3);
  });
});

/** The entities of `draft` (none without one), but no delivery ids: what a reader of version 8 knew. */
function reader(draft?: RunDraft): RunEntityReader {
  return {
    step: (stepId) => draft?.step(stepId),
    wait: (waitId) => draft?.wait(waitId),
    hook: (hookId) => draft?.hook(hookId),
    tokenHolder: (token) => draft?.tokenHolder(token),
    deliveryHolder: () => undefined,
    activeHooks: () => draft?.activeHooks() ?? [],
  };
}
