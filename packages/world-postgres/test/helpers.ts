import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { Database } from '../src/database.js';
import { createPostgresWorld, type PostgresWorldOptions } from '../src/index.js';
import { applyMigrations } from '../src/migrations.js';
import { Notifications } from '../src/notifications.js';
import { PostgresEventLog } from '../src/postgres-event-log.js';

export const connectionString = inject('connectionString');

const schemas: string[] = [];

/**
 * The SQL text and values of a `query(...)` call on a pg Pool or Client: the World sends
 * text and values, or a query config (a named statement).
 */
export function statementOf(args: unknown[]): { text: string; values: unknown[] } {
  const [first, second] = args as [unknown, unknown];
  const config = (typeof first === 'string' ? { text: first, values: second } : (first ?? {})) as {
    text?: unknown;
    values?: unknown;
  };
  return {
    text: typeof config.text === 'string' ? config.text : '',
    values: Array.isArray(config.values) ? config.values : [],
  };
}

/**
 * A statement that only publishes notifications: the World sends one after appends commit,
 * in the background, so it is not part of an append's round trip.
 */
export const onlyNotifies = (text: string) =>
  /^\s*SELECT\b/i.test(text) && text.includes('pg_notify(') && !text.includes('append_batch');

/** A fresh schema name, dropped when the test file ends. */
export function freshSchema(): string {
  const schema = `cairn_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  return schema;
}

/** A World in a schema of its own, so tests never see each other's data. */
export function createTestWorld(options: Partial<PostgresWorldOptions> = {}) {
  return createPostgresWorld({ connectionString, schema: freshSchema(), ...options } as PostgresWorldOptions);
}

/**
 * The World's event log and its LISTEN connection alone, in a schema of their own, for tests
 * that look at the notifications under a watch. `close` ends both and the pool.
 */
export function openEventLog(name: string, { pollIntervalMs }: { pollIntervalMs: number }) {
  const schema = freshSchema();
  const pool = new pg.Pool({ connectionString, max: 4 });
  const db = new Database(pool, schema, name, 'test', async () => {
    await applyMigrations(pool, schema);
  });
  const notifications = new Notifications(pool, db.channel);
  const events = new PostgresEventLog(db, notifications, {
    maxPayloadBytes: 1024 * 1024,
    maxFutureCreatedAtMs: 10_000,
    idempotencyRetentionMs: 60_000,
    pollIntervalMs,
  });
  return {
    events,
    notifications,
    async close() {
      await notifications.close();
      await pool.end();
    },
  };
}

afterAll(async () => {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    for (const schema of schemas.splice(0)) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
});

/**
 * A real pg Client class that shows `observe` every statement it sends and a promise that
 * settles when the statement has answered. Given to a pool as its `Client`, it sees what the
 * World sends on any connection, whether through the pool's own `query` or a connection the
 * World checked out, in pg's promise form or its callback form (which the World uses).
 */
export function observingClient(
  observe: (statement: { text: string; values: unknown[] }, answered: Promise<unknown>) => void,
): typeof pg.Client {
  return class ObservingClient extends pg.Client {
    // biome-ignore lint/suspicious/noExplicitAny: pg's query has many overloads; this passes them all through.
    override query(...args: any[]): any {
      // biome-ignore lint/suspicious/noExplicitAny: as above.
      const send = super.query as (...all: any[]) => any;
      const callback = args.at(-1);
      if (typeof callback !== 'function') {
        const result = send.apply(this, args);
        observe(
          statementOf(args),
          Promise.resolve(result).catch(() => undefined),
        );
        return result;
      }
      let settle: () => void = () => {};
      const answered = new Promise<unknown>((resolve) => {
        settle = () => resolve(undefined);
      });
      const result = send.apply(this, [
        ...args.slice(0, -1),
        (...reply: unknown[]) => {
          settle();
          return callback(...reply);
        },
      ]);
      observe(statementOf(args), answered);
      return result;
    }
  };
}

/** A notification as a session LISTENing on the channel receives it. */
export interface ReceivedNotification {
  /** The server process that sent it. */
  processId: number;
  payload: string;
}

/**
 * A session LISTENing on a schema's channel, as another process would: every payload in
 * the order it arrived. `settled` resolves once everything notified before the call has
 * arrived (it sends a marker of its own: notifications arrive in commit order). `stop`
 * ends the session.
 */
export async function listenToChannel(schema: string) {
  const client = new pg.Client({ connectionString });
  await client.connect();
  const received: ReceivedNotification[] = [];
  client.on('notification', (message) =>
    received.push({ processId: message.processId, payload: message.payload ?? '' }),
  );
  const channel = `cairn_${schema}`;
  await client.query(`LISTEN "${channel}"`);
  const settled = async () => {
    const marker = `marker ${received.length} ${Math.random()}`;
    await client.query('SELECT pg_notify($1, $2)', [channel, marker]);
    const deadline = Date.now() + 5000;
    while (!received.some((notification) => notification.payload === marker)) {
      if (Date.now() > deadline) throw new Error('the marker notification never arrived');
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  return { received, settled, stop: () => client.end() };
}
