import { InvalidInputError, type World } from '@cairn/core/world';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, freshSchema, observingClient, onlyNotifies } from './helpers.js';

// The queue's lease statement took longer to plan (about 1.2 ms) than to run (0.6 ms), and
// it was planned afresh on every call. Named statements are parsed once per connection, and
// PostgreSQL may then keep a generic plan for them.

const pools: pg.Pool[] = [];
const opened: World[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
});
afterAll(() => Promise.all(pools.map((pool) => pool.end())));

/** A World on a pool of one connection, so the statements it prepared can be seen from that pool. */
function worldOnOneConnection(options: { preparedStatements?: boolean } = {}) {
  const pool = new pg.Pool({ connectionString, max: 1 });
  pools.push(pool);
  const world = createPostgresWorld({ pool, schema: freshSchema(), ...options });
  opened.push(world);
  return { world, pool };
}

async function preparedOn(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ statement: string }>('SELECT statement FROM pg_prepared_statements');
  return rows.map((row) => row.statement);
}

/**
 * Counts every statement sent on the pool's connections, and every connection checked out.
 * The World checks one out for each statement it sends alone, as pg's own pool.query does.
 */
class CountingPool extends pg.Pool {
  texts: string[] = [];
  connects = 0;
  constructor(config: pg.PoolConfig) {
    const seen: { pool?: CountingPool } = {};
    super({ ...config, Client: observingClient(({ text }) => seen.pool?.texts.push(text)) });
    seen.pool = this;
  }
  reset(): void {
    this.texts = [];
    this.connects = 0;
  }
  // biome-ignore lint/suspicious/noExplicitAny: pg's connect has overloads; this passes them all through.
  override connect(...args: any[]): any {
    this.connects += 1;
    // biome-ignore lint/suspicious/noExplicitAny: as above.
    return (super.connect as (...all: any[]) => any)(...args);
  }
}

describe('prepared statements', () => {
  it('names the statements it sends with parameters, so each is parsed once per connection', async () => {
    const { world, pool } = worldOnOneConnection();
    await world.events.create('run-1', { eventType: 'run_created', eventData: { workflowName: 'w', input: 1 } });
    for (let i = 0; i < 3; i++) await world.runs.get('run-1');
    await world.queue.send('topic-a', { n: 1 });
    const statements = await preparedOn(pool);
    expect(statements.some((text) => text.includes('SELECT r.body') && text.includes('.runs'))).toBe(true);
    expect(statements.some((text) => text.includes('.queue_send('))).toBe(true);
    // One per distinct text, however often it ran.
    expect(new Set(statements).size).toBe(statements.length);
  });

  it('leases and settles through named statements too', async () => {
    const { world, pool } = worldOnOneConnection();
    await world.queue.send('topic-b', { n: 1 });
    const handled: unknown[] = [];
    const consumer = world.queue.consume('topic-b', async (message) => {
      handled.push(message.payload);
    });
    await expect.poll(() => handled.length, { timeout: 10_000 }).toBe(1);
    await consumer.stop();
    const statements = await preparedOn(pool);
    expect(statements.some((text) => text.includes('candidates AS'))).toBe(true);
    expect(statements.some((text) => text.includes('.queue_ack('))).toBe(true);
  });

  it('writes a stamped batch to a run it wrote last with one prepared call, no transaction of its own', async () => {
    const pool = new CountingPool({ connectionString, max: 1 });
    pools.push(pool);
    const world = createPostgresWorld({ pool, schema: freshSchema() });
    opened.push(world);
    await world.open?.();
    // Stamps a little ahead of the database's clock, as the engine proposes them.
    let stamp = Date.now() + 1000;
    const created = await world.events.create(
      'run-3',
      { eventType: 'run_created', eventData: { workflowName: 'w', input: 1 } },
      { createdAt: stamp },
    );
    let tail = created.event.eventId;
    pool.reset();
    for (let index = 0; index < 3; index++) {
      stamp += 1;
      const { event } = await world.events.create(
        'run-3',
        { eventType: 'step_created', correlationId: `step-${index}`, eventData: { stepName: 's', input: index } },
        { lastKnownEventId: tail, createdAt: stamp },
      );
      tail = event.eventId;
    }
    // One statement each, on a connection checked out for it alone: no BEGIN or COMMIT, the
    // call is its own transaction. (Their notifications follow in statements of their own.)
    const appends = pool.texts.filter((text) => !onlyNotifies(text));
    expect(appends).toHaveLength(3);
    expect(pool.connects).toBe(pool.texts.length);
    expect(appends.every((text) => text.includes('.append_batch('))).toBe(true);
    const statements = await preparedOn(pool);
    expect(statements.filter((text) => text.includes('.append_batch('))).toHaveLength(1);
    expect((await world.events.list('run-3')).data.map((event) => event.eventType)).toEqual([
      'run_created',
      'step_created',
      'step_created',
      'step_created',
    ]);
  });

  it('prepares nothing with preparedStatements: false, for poolers that cannot carry them', async () => {
    const { world, pool } = worldOnOneConnection({ preparedStatements: false });
    await world.events.create('run-2', { eventType: 'run_created', eventData: { workflowName: 'w', input: 1 } });
    await world.runs.get('run-2');
    await world.queue.send('topic-c', { n: 1 });
    expect(await preparedOn(pool)).toEqual([]);
  });

  it('refuses a preparedStatements that is not a boolean, naming the field', () => {
    let caught: unknown;
    try {
      createPostgresWorld({ connectionString, preparedStatements: 'yes' as never });
    } catch (error) {
      caught = error;
    }
    expect(InvalidInputError.is(caught)).toBe(true);
    expect((caught as InvalidInputError).field).toContain('preparedStatements');
  });
});
