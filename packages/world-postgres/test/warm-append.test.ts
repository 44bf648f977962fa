import {
  EntityConflictError,
  FenceConflictError,
  HookTokenConflictError,
  InvalidInputError,
  type World,
} from '@cairn/core/world';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, freshSchema, observingClient, onlyNotifies, statementOf } from './helpers.js';

/**
 * A real client that counts its queries: each one is a round trip to the database. The
 * notifications an append publishes after its commit go in the background, not on its way.
 */
class CountingClient extends pg.Client {
  static queries = 0;
  // biome-ignore lint/suspicious/noExplicitAny: pg's query has many overloads; this passes them all through.
  override query(...args: any[]): any {
    if (!onlyNotifies(statementOf(args).text)) CountingClient.queries += 1;
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    return (super.query as (...all: any[]) => any)(...args);
  }
}

const pools: pg.Pool[] = [];
const opened: World[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
});
afterAll(() => Promise.all(pools.map((pool) => pool.end())));

function worlds(count: number): World[] {
  const schema = freshSchema();
  const made = Array.from({ length: count }, () => {
    const pool = new pg.Pool({ connectionString, Client: CountingClient });
    pools.push(pool);
    return createPostgresWorld({ pool, schema });
  });
  opened.push(...made);
  return made;
}

/** A pool of `max` connections that records how many appends each of its statements carried. */
function appendCountingPool(max: number): { pool: pg.Pool; carried: number[] } {
  const carried: number[] = [];
  const pool = new pg.Pool({
    connectionString,
    max,
    Client: observingClient(({ text }) => {
      const count = text.match(/append_batch\(/g)?.length;
      if (count !== undefined) carried.push(count);
    }),
  });
  pools.push(pool);
  return { pool, carried };
}

/** A stamp a little ahead of the database clock, as the engine proposes for a completion batch. */
const ahead = () => ({ createdAt: Date.now() + 200 });
const stepCreated = (stepId: string) =>
  ({ eventType: 'step_created', correlationId: stepId, eventData: { stepName: 's', input: 1 } }) as const;
const stepCompleted = (stepId: string) =>
  ({ eventType: 'step_completed', correlationId: stepId, eventData: { output: 2 } }) as const;

async function startedRun(world: World): Promise<string> {
  const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
  await world.events.createBatch(run.runId, [{ eventType: 'run_started' }, stepCreated('s1')], ahead());
  return run.runId;
}

const hookCreated = (hookId: string, token: string) =>
  ({ eventType: 'hook_created', correlationId: hookId, eventData: { token } }) as const;
const runCompleted = { eventType: 'run_completed', eventData: { output: 'done' } } as const;

describe('world-postgres: appends to a run this World wrote last', () => {
  it('take one round trip', async () => {
    const [world] = worlds(1);
    const runId = await startedRun(world!);
    const before = CountingClient.queries;
    const results = await world!.events.createBatch(runId, [stepCompleted('s1'), stepCreated('s2')], ahead());
    expect(CountingClient.queries - before).toBe(1);
    expect(results.map((result) => result.event.seq)).toEqual([4, 5]);
    expect((await world!.steps.get(runId, 's1')).status).toBe('completed');
    expect((await world!.steps.get(runId, 's2')).status).toBe('pending');
    expect((await world!.runs.get(runId)).lastSeq).toBe(5);
  });

  it('notice another writer, fence against its tail, and carry on from it', async () => {
    const [first, second] = worlds(2);
    const runId = await startedRun(first!);
    // The other World moves the run on: the first World's cache is now one tail behind.
    const [moved] = await second!.events.createBatch(runId, [stepCompleted('s1')], ahead());
    const stale = await first!.events
      .createBatch(runId, [stepCreated('s2')], { ...ahead(), lastKnownEventId: 'evt_000000000003' })
      .catch((error: unknown) => error);
    expect(FenceConflictError.is(stale)).toBe(true);
    expect((stale as FenceConflictError).currentTail).toEqual({ eventId: moved!.event.eventId, seq: 4 });
    // Without a fence the stale cache is noticed under the lock, and the append goes the long way.
    const [next] = await first!.events.createBatch(runId, [stepCreated('s2')], ahead());
    expect(next!.event.seq).toBe(5);
    const { data } = await first!.events.list(runId);
    expect(data.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5]);
    expect((await first!.steps.get(runId, 's1')).status).toBe('completed');
  });

  it('refuse an entity the cache does not hold, as the long way does, and write nothing', async () => {
    const [world] = worlds(1);
    const runId = await startedRun(world!);
    await world!.events.createBatch(runId, [stepCompleted('s1')], ahead());
    // s1 is finished, so the cache no longer holds it; creating it again must still be refused.
    const again = await world!.events.createBatch(runId, [stepCreated('s1')], ahead()).catch((error: unknown) => error);
    expect(EntityConflictError.is(again)).toBe(true);
    expect((await world!.runs.get(runId)).lastSeq).toBe(4);
    const [next] = await world!.events.createBatch(runId, [stepCreated('s2')], ahead());
    expect(next!.event.seq).toBe(5);
  });

  it('refuse a stamp already in the database clock’s past', async () => {
    const [world] = worlds(1);
    const runId = await startedRun(world!);
    const refused = await world!.events
      .createBatch(runId, [stepCompleted('s1')], { createdAt: Date.now() - 60_000 })
      .catch((error: unknown) => error);
    expect(FenceConflictError.is(refused)).toBe(true);
    expect((refused as Error).message).toMatch(/in the past/);
    expect((await world!.runs.get(runId)).lastSeq).toBe(3);
  });

  it('keep its pooled connection when the database refuses it', async () => {
    // A refusal is an answer, not a broken connection: dropping the connection would make
    // the next append connect, start a server process and prepare its statements again.
    const [world] = worlds(1);
    const pool = pools.at(-1)!;
    const runId = await startedRun(world!);
    let removed = 0;
    let connected = 0;
    pool.on('remove', () => removed++);
    pool.on('connect', () => connected++);
    for (let attempt = 0; attempt < 5; attempt++) {
      const refused = await world!.events
        .createBatch(runId, [stepCompleted('s1')], { createdAt: Date.now() - 60_000 })
        .catch((error: unknown) => error);
      expect(FenceConflictError.is(refused)).toBe(true);
    }
    await world!.events.createBatch(runId, [stepCompleted('s1')], ahead());
    const again = await world!.events.createBatch(runId, [stepCreated('s1')], ahead()).catch((error: unknown) => error);
    expect(EntityConflictError.is(again)).toBe(true);
    expect({ removed, connected }).toEqual({ removed: 0, connected: 0 });
    expect((await world!.runs.get(runId)).lastSeq).toBe(4);
  });

  it('end a run it created in one round trip, releasing the hooks it knows are all there is', async () => {
    const [world] = worlds(1);
    const runId = await startedRun(world!);
    await world!.events.createBatch(runId, [hookCreated('h1', `token-${runId}`)], ahead());
    const before = CountingClient.queries;
    await world!.events.createBatch(runId, [stepCompleted('s1'), runCompleted], ahead());
    expect(CountingClient.queries - before).toBe(1);
    expect((await world!.hooks.get(runId, 'h1')).status).toBe('disposed');
    expect((await world!.runs.get(runId)).status).toBe('completed');
  });

  it('end a run another World created the long way, so no active hook is missed', async () => {
    const [creator, finisher] = worlds(2);
    const runId = await startedRun(creator!);
    await creator!.events.createBatch(runId, [hookCreated('h1', `token-${runId}`)], ahead());
    // The finisher knows the run only from its own append, not from its creation.
    await finisher!.events.createBatch(runId, [stepCompleted('s1')], ahead());
    await finisher!.events.createBatch(runId, [runCompleted], ahead());
    expect((await finisher!.hooks.get(runId, 'h1')).status).toBe('disposed');
  });

  it('refuse a token another run holds, as the long way does', async () => {
    const [world] = worlds(1);
    const holder = await startedRun(world!);
    const token = `shared-${holder}`;
    await world!.events.createBatch(holder, [hookCreated('h1', token)], ahead());
    const claimant = await startedRun(world!);
    const refused = await world!.events
      .createBatch(claimant, [hookCreated('h2', token)], ahead())
      .catch((error: unknown) => error);
    expect(HookTokenConflictError.is(refused)).toBe(true);
    expect((refused as HookTokenConflictError).heldBy).toEqual({ runId: holder, hookId: 'h1' });
    expect((await world!.runs.get(claimant)).lastSeq).toBe(3);
  });
});

describe('world-postgres: a run created with a proposed stamp', () => {
  const created = (workflowName = 'w') => ({ eventType: 'run_created', eventData: { workflowName } }) as const;

  it('is created in one round trip, wake included', async () => {
    const [world] = worlds(1);
    await world!.runs.list(); // connected and migrated
    const before = CountingClient.queries;
    const { run, event } = await world!.events.create('run-warm-1', created(), {
      ...ahead(),
      enqueue: [{ topic: 'wakes', payload: { runId: 'run-warm-1' } }],
    });
    expect(CountingClient.queries - before).toBe(1);
    expect(event.seq).toBe(1);
    expect(run.status).toBe('pending');
    expect(await world!.runs.get('run-warm-1')).toEqual(run);
    // The wake committed with it.
    const woken: unknown[] = [];
    const consumer = world!.queue.consume('wakes', async (message) => {
      woken.push(message.payload);
    });
    await expect.poll(() => woken, { timeout: 10_000 }).toEqual([{ runId: 'run-warm-1' }]);
    await consumer.stop();
    // And its next append is warm too.
    const middle = CountingClient.queries;
    await world!.events.createBatch('run-warm-1', [{ eventType: 'run_started' }], ahead());
    expect(CountingClient.queries - middle).toBe(1);
  });

  it('is refused as a duplicate when the id is taken, by this World or another, and writes nothing', async () => {
    const [first, second] = worlds(2);
    await first!.events.create('run-warm-2', created());
    for (const world of [first!, second!]) {
      const again = await world.events.create('run-warm-2', created(), ahead()).catch((error: unknown) => error);
      expect(EntityConflictError.is(again)).toBe(true);
    }
    expect((await first!.runs.get('run-warm-2')).lastSeq).toBe(1);
    expect((await first!.events.list('run-warm-2')).data).toHaveLength(1);
  });

  it('lets exactly one of two racing creators of one id win', async () => {
    const [first, second] = worlds(2);
    // Far enough ahead that the loser's long way (lock, reads) cannot outlast it on a loaded
    // machine: a stamp that falls into the past is refused before the id is looked at.
    const stamp = { createdAt: Date.now() + 5000 };
    const outcomes = await Promise.allSettled([
      first!.events.create('run-warm-3', created('a'), stamp),
      second!.events.create('run-warm-3', created('b'), stamp),
    ]);
    expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
    const loser = outcomes.find((outcome) => outcome.status === 'rejected') as PromiseRejectedResult;
    expect(EntityConflictError.is(loser.reason)).toBe(true);
    expect((await first!.events.list('run-warm-3')).data).toHaveLength(1);
  });

  it('is refused when the stamp is already in the database clock’s past, and writes nothing', async () => {
    const [world] = worlds(1);
    const refused = await world!.events
      .create('run-warm-4', created(), { createdAt: Date.now() - 60_000 })
      .catch((error: unknown) => error);
    expect(FenceConflictError.is(refused)).toBe(true);
    await expect(world!.runs.get('run-warm-4')).rejects.toThrow(/not found/i);
  });

  it('send appends of runs that arrive together, while one is out, as one statement with an answer each', async () => {
    const calls: string[] = [];
    // A pool of two: one statement sends appends at a time, and those that arrive meanwhile wait.
    const pool = new pg.Pool({
      connectionString,
      max: 2,
      Client: observingClient(({ text }) => {
        if (text.includes('.append_batch(')) calls.push(text);
      }),
    });
    pools.push(pool);
    const world = createPostgresWorld({ pool, schema: freshSchema() });
    opened.push(world);
    const runIds: string[] = [];
    for (let index = 0; index < 9; index++) runIds.push(await startedRun(world));
    calls.length = 0;
    const results = await Promise.all(
      runIds.map((runId) => world.events.createBatch(runId, [stepCompleted('s1'), stepCreated('s2')], ahead())),
    );
    // The first went alone; the eight that came while it was out went together.
    expect(calls.length).toBe(2);
    expect(calls[1]!.match(/append_batch\(/g)).toHaveLength(8);
    for (const [index, runId] of runIds.entries()) {
      expect(results[index]!.map((result) => [result.event.runId, result.event.seq])).toEqual([
        [runId, 4],
        [runId, 5],
      ]);
      expect((await world.steps.get(runId, 's1')).status).toBe('completed');
      expect((await world.runs.get(runId)).lastSeq).toBe(5);
    }
  });

  /** Appends of `runs` started runs, all at once, through a World on a pool of 20; how many appends each statement carried. */
  async function burstOnPoolOfTwenty(runs: number, options: { maxAppendStatements?: number } = {}): Promise<number[]> {
    const { pool, carried } = appendCountingPool(20);
    const world = createPostgresWorld({ pool, schema: freshSchema(), ...options });
    opened.push(world);
    const runIds: string[] = [];
    for (let index = 0; index < runs; index++) runIds.push(await startedRun(world));
    carried.length = 0;
    // Stamps well ahead: on the old code each append opened a connection of its own first.
    const stamp = { createdAt: Date.now() + 5000 };
    const results = await Promise.all(
      runIds.map((runId) => world.events.createBatch(runId, [stepCompleted('s1')], stamp)),
    );
    expect(results.map((result) => result[0]!.event.seq)).toEqual(runIds.map(() => 4));
    return carried.sort((a, b) => a - b);
  }

  it('send at most two append statements at once by default, however large the pool, so a burst shares commits', async () => {
    // Two go alone while nothing else is out; the seven that arrive meanwhile share one statement.
    expect(await burstOnPoolOfTwenty(9)).toEqual([1, 1, 7]);
  });

  it('send as many append statements at once as maxAppendStatements allows', async () => {
    expect(await burstOnPoolOfTwenty(9, { maxAppendStatements: 4 })).toEqual([1, 1, 1, 1, 5]);
    expect(await burstOnPoolOfTwenty(9, { maxAppendStatements: 1 })).toEqual([1, 8]);
  });

  it('refuse a maxAppendStatements that is not a whole number from 1, naming the option', () => {
    for (const value of [0, 1.5, -2, '2']) {
      let thrown: unknown;
      try {
        createPostgresWorld({ connectionString, maxAppendStatements: value as number });
      } catch (error) {
        thrown = error;
      }
      expect(InvalidInputError.is(thrown)).toBe(true);
      expect((thrown as InvalidInputError).field).toBe('options.maxAppendStatements');
    }
  });

  it('send each append of a refused group again alone, so one stale run costs the others nothing else', async () => {
    const { pool, carried: calls } = appendCountingPool(2);
    const schema = freshSchema();
    const world = createPostgresWorld({ pool, schema });
    const other = createPostgresWorld({ connectionString, schema });
    opened.push(world, other);
    const runIds: string[] = [];
    for (let index = 0; index < 5; index++) runIds.push(await startedRun(world));
    // Another World moves one run on, so this World's cache of it is stale: its call's guard
    // refuses it inside the group, which rolls the whole group back.
    const stale = runIds[3]!;
    await other.events.createBatch(stale, [stepCompleted('s1')], ahead());
    calls.length = 0;
    const results = await Promise.all(
      runIds.map((runId) =>
        world.events.createBatch(runId, runId === stale ? [stepCreated('s2')] : [stepCompleted('s1')], ahead()),
      ),
    );
    // The first alone; the other four as one statement, refused; then those four alone; and
    // the stale run's the long way, whose writes are the same function called once more.
    expect(calls).toEqual([1, 4, 1, 1, 1, 1, 1]);
    for (const [index, runId] of runIds.entries()) {
      const tail = runId === stale ? 5 : 4;
      expect(results[index]!.map((result) => result.event.seq)).toEqual([tail]);
      const { data } = await world.events.list(runId);
      expect(data.map((event) => event.seq)).toEqual([1, 2, 3, 4, 5].slice(0, tail));
    }
    expect((await world.steps.get(stale, 's2')).status).toBe('pending');
    expect((await world.steps.get(runIds[0]!, 's1')).status).toBe('completed');
  });
});
