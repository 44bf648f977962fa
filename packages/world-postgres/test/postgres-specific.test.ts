import { createServer } from 'node:net';
import {
  FenceConflictError,
  HookTokenConflictError,
  InvalidInputError,
  type QueueMessage,
  type World,
  WorldUnavailableError,
} from '@cairn/core/world';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld, migrate, migrations, type PostgresWorldOptions } from '../src/index.js';
import { connectionString, freshSchema } from './helpers.js';

const opened: World[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
});

/** Worlds on one schema with separate pools: what separate processes would have. */
function worlds(count: number, options: Partial<PostgresWorldOptions> = {}, schema = freshSchema()): World[] {
  const made = Array.from({ length: count }, () => createPostgresWorld({ connectionString, schema, ...options }));
  opened.push(...made);
  return made;
}

/** A port nothing listens on: bound, then released. */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function migrationRows(schema: string): Promise<number[]> {
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const { rows } = await client.query(`SELECT version FROM "${schema}".cairn_migrations ORDER BY version`);
    return rows.map((row) => row.version);
  } finally {
    await client.end();
  }
}

describe('world-postgres: migrations', () => {
  it('migrate() applies every migration once and is a no-op the second time', async () => {
    const schema = freshSchema();
    const first = await migrate({ connectionString, schema });
    expect(first.applied).toEqual(migrations.map((migration) => migration.version));
    const second = await migrate({ connectionString, schema });
    expect(second.applied).toEqual([]);
    expect(await migrationRows(schema)).toEqual(first.applied);
  });

  it('five Worlds starting at once on a fresh schema migrate it exactly once', async () => {
    const schema = freshSchema();
    const pages = await Promise.all(worlds(5, {}, schema).map((world) => world.runs.list()));
    expect(pages.map((page) => page.data)).toEqual([[], [], [], [], []]);
    expect(await migrationRows(schema)).toEqual(migrations.map((migration) => migration.version));
  });
});

describe('world-postgres: an unreachable database', () => {
  it('is WorldUnavailableError naming host:port, on every call, for the World and for migrate()', async () => {
    const port = await closedPort();
    const unreachable = `postgres://postgres@127.0.0.1:${port}/nowhere`;
    const world = createPostgresWorld({ connectionString: unreachable, schema: freshSchema() });
    opened.push(world);
    for (const call of [() => world.runs.list(), () => world.queue.send('topic', 1)]) {
      const error = await call().catch((caught: unknown) => caught);
      expect(WorldUnavailableError.is(error)).toBe(true);
      expect((error as Error).message).toContain(`127.0.0.1:${port}`);
      expect((error as WorldUnavailableError).retryable).toBe(true);
    }
    await expect(migrate({ connectionString: unreachable })).rejects.toThrow(`127.0.0.1:${port}`);
  });
});

describe('world-postgres: a connection string that is not one', () => {
  it('is InvalidInputError at construction, naming the field, for the World and for migrate()', async () => {
    for (const bad of ['not a url', 'localhost:5432/db', 'host=localhost port=5432', 'mysql://user@host/db']) {
      const thrown = (() => {
        try {
          createPostgresWorld({ connectionString: bad });
          return undefined;
        } catch (error) {
          return error;
        }
      })();
      expect(InvalidInputError.is(thrown), bad).toBe(true);
      expect((thrown as InvalidInputError).field).toBe('options.connectionString');
      expect((thrown as InvalidInputError).retryable).toBe(false);
      await expect(migrate({ connectionString: bad })).rejects.toSatisfy(InvalidInputError.is);
    }
  });

  it('never puts the password in the message', () => {
    expect(() => createPostgresWorld({ connectionString: 'mysql://admin:hunter2@db.example/app' })).toThrow(
      'mysql://admin:***@db.example/app',
    );
    expect(() => createPostgresWorld({ connectionString: 'mysql://admin:hunter2@db.example/app' })).not.toThrow(
      'hunter2',
    );
  });

  it('accepts postgres://, postgresql:// and socket directories', () => {
    for (const good of ['postgres://u@127.0.0.1:1/db', 'postgresql://u:p@host/db', '/var/run/postgresql']) {
      const world = createPostgresWorld({ connectionString: good, schema: freshSchema() });
      opened.push(world);
      expect(world.name).toContain('postgres:');
    }
  });
});

describe('world-postgres: two processes on one schema', () => {
  it('25 concurrent fenced writers over two pools: exactly one lands, the log stays dense', async () => {
    const [a, b] = worlds(2);
    const { run } = await a!.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'race' } });
    const { event: tail } = await a!.events.create(run.runId, { eventType: 'run_started' });
    // Open every pooled connection first, so the writers race instead of queueing on connects.
    await Promise.all([a!, b!].flatMap((world) => Array.from({ length: 12 }, () => world.runs.get(run.runId))));
    const outcomes = await Promise.allSettled(
      Array.from({ length: 25 }, (_, writer) =>
        (writer % 2 === 0 ? a! : b!).events.createBatch(
          run.runId,
          [
            { eventType: 'step_created', correlationId: `w${writer}-1`, eventData: { stepName: 's' } },
            { eventType: 'step_created', correlationId: `w${writer}-2`, eventData: { stepName: 's' } },
          ],
          { lastKnownEventId: tail.eventId },
        ),
      ),
    );
    const winners = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    const losers = outcomes.flatMap((outcome) => (outcome.status === 'rejected' ? [outcome.reason] : []));
    expect(winners).toHaveLength(1);
    expect(losers).toHaveLength(24);
    for (const loser of losers) {
      expect(FenceConflictError.is(loser)).toBe(true);
      expect((loser as FenceConflictError).currentTail.seq).toBe(4);
    }
    const log = await b!.events.list(run.runId);
    expect(log.data.map((event) => event.seq)).toEqual([1, 2, 3, 4]);
    expect((await b!.steps.list(run.runId)).data).toHaveLength(2);
  });

  it('one live hook per token when ten runs on two pools claim it at once', async () => {
    const [a, b] = worlds(2);
    const runIds = await Promise.all(
      Array.from({ length: 10 }, async (_, index) => {
        const world = index % 2 === 0 ? a! : b!;
        const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
        return { world, runId: run.runId };
      }),
    );
    const outcomes = await Promise.allSettled(
      runIds.map(({ world, runId }) =>
        world.events.create(runId, { eventType: 'hook_created', correlationId: 'h', eventData: { token: 'one' } }),
      ),
    );
    const won = outcomes.filter((outcome) => outcome.status === 'fulfilled');
    expect(won).toHaveLength(1);
    const holder = (await a!.hooks.getByToken('one')).runId;
    for (const outcome of outcomes) {
      if (outcome.status === 'fulfilled') continue;
      expect(HookTokenConflictError.is(outcome.reason)).toBe(true);
      expect((outcome.reason as HookTokenConflictError).heldBy.runId).toBe(holder);
    }
  });

  it('group exclusivity holds across two Worlds with separate pools, in send order', async () => {
    const [a, b] = worlds(2);
    const inFlight = new Map<string, number>();
    const seen = new Map<string, number[]>();
    let overlaps = 0;
    let delivered = 0;
    const total = 4 * 12;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const handler = async (message: QueueMessage) => {
      const group = message.groupKey!;
      inFlight.set(group, (inFlight.get(group) ?? 0) + 1);
      if (inFlight.get(group)! > 1) overlaps += 1;
      await new Promise((resolve) => setTimeout(resolve, 3 + Math.random() * 5));
      seen.set(group, [...(seen.get(group) ?? []), message.payload as number]);
      inFlight.set(group, inFlight.get(group)! - 1);
      delivered += 1;
      if (delivered === total) finish();
    };
    const consumers = [a!, b!].map((world) => world.queue.consume('jobs', handler, { concurrency: 4 }));
    for (let index = 0; index < total; index++) await a!.queue.send('jobs', index, { groupKey: `g${index % 4}` });
    await finished;
    await Promise.all(consumers.map((consumer) => consumer.stop()));
    expect(overlaps).toBe(0);
    for (let group = 0; group < 4; group++) {
      const expected = Array.from({ length: 12 }, (_, index) => index * 4 + group);
      expect(seen.get(`g${group}`)).toEqual(expected);
    }
  });

  it('stream writers on two pools get dense, unique indexes', async () => {
    const [a, b] = worlds(2);
    const { run } = await a!.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    const indexes = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        (index % 2 === 0 ? a! : b!).streams.write(run.runId, 'out', `chunk ${index}`),
      ),
    );
    expect(indexes.map(({ index }) => index).sort((x, y) => x - y)).toEqual(Array.from({ length: 40 }, (_, i) => i));
  });
});

describe('world-postgres: LISTEN/NOTIFY', () => {
  it('wakes a consumer and a watcher on another pool far sooner than the 60 s poll', async () => {
    const [consumerWorld, senderWorld] = worlds(2, { pollIntervalMs: 60_000 });
    const arrivals: { payload: unknown; at: number }[] = [];
    let arrived!: () => void;
    let next = new Promise<void>((resolve) => (arrived = resolve));
    const consumer = consumerWorld!.queue.consume('wake', async (message) => {
      arrivals.push({ payload: message.payload, at: Date.now() });
      arrived();
    });
    // The first message may be picked up by the consumer's initial lease; it proves LISTEN is up.
    await senderWorld!.queue.send('wake', 'warm-up');
    await next;
    // Let the warm-up's ack and the lease round after it finish, so only a NOTIFY can fetch the next one.
    await new Promise((resolve) => setTimeout(resolve, 200));
    next = new Promise<void>((resolve) => (arrived = resolve));
    const sentAt = Date.now();
    await senderWorld!.queue.send('wake', 'ping');
    await next;
    expect(arrivals.at(-1)!.payload).toBe('ping');
    expect(arrivals.at(-1)!.at - sentAt).toBeLessThan(1_000);
    await consumer.stop();

    const { run } = await senderWorld!.events.create(null, {
      eventType: 'run_created',
      eventData: { workflowName: 'w' },
    });
    const watching = consumerWorld!.events.watch(run.runId, 1).then(() => Date.now());
    await new Promise((resolve) => setTimeout(resolve, 100));
    const appendedAt = Date.now();
    await senderWorld!.events.create(run.runId, { eventType: 'run_started' });
    expect((await watching) - appendedAt).toBeLessThan(1_000);
  });

  it('a delayed message is delivered on time by the timer, not the 60 s poll', async () => {
    const [world] = worlds(1, { pollIntervalMs: 60_000 });
    let received!: (at: number) => void;
    const arrival = new Promise<number>((resolve) => (received = resolve));
    const consumer = world!.queue.consume('later', async () => received(Date.now()));
    const sentAt = Date.now();
    await world!.queue.send('later', 'x', { delayMs: 300 });
    const at = await arrival;
    expect(at - sentAt).toBeGreaterThanOrEqual(300);
    expect(at - sentAt).toBeLessThan(1_500);
    await consumer.stop();
  });
});
