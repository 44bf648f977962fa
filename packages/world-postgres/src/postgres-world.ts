import {
  type Clock,
  InvalidInputError,
  maxQueueDelayMs,
  parseInput,
  type World,
  type WorldCapabilities,
  WorldUnavailableError,
} from '@cairn/core/world';
import { z } from 'zod';
import { checkConnectionString, connectionShape, locationOf, openPool, requireOneSource } from './connection.js';
import { Database } from './database.js';
import { applyMigrations, latestVersion } from './migrations.js';
import { Notifications } from './notifications.js';
import { PostgresEventLog } from './postgres-event-log.js';
import { PostgresQueue } from './postgres-queue.js';
import { PostgresStreams } from './postgres-streams.js';
import { PostgresViews } from './postgres-views.js';

const postgresWorldOptionsSchema = z
  .strictObject({
    ...connectionShape,
    /**
     * Apply pending migrations on first use (default true). Set false where the
     * application role may not run DDL and operators call `migrate()` before deploying.
     */
    migrate: z.boolean().optional(),
    /**
     * Fallback poll for queue consumers, and a quarter of the fallback for `events.watch`
     * and live stream reads. LISTEN/NOTIFY wakes them at once; the poll only matters when
     * a notification is lost. Default 500 ms.
     */
    pollIntervalMs: z.number().int('must be whole milliseconds').min(10).max(600_000).optional(),
    /** Largest event batch or queue payload, serialised. Default 16 MiB. */
    maxPayloadBytes: z
      .number()
      .int()
      .min(1024)
      .max(256 * 1024 * 1024)
      .optional(),
    /** Lease for consumers that do not pass `leaseMs`. Default 30 s. */
    defaultLeaseMs: z.number().int().min(10).optional(),
    /** How long an acknowledged message's idempotency key keeps deduplicating. Default 24 h. */
    idempotencyRetentionMs: z.number().int().min(0).optional(),
    /**
     * Send parameterised statements as named, prepared statements (default true): each
     * connection parses and plans them once instead of on every call. Set false behind a
     * connection pooler in transaction mode that does not support prepared statements
     * (PgBouncer before 1.21, for example).
     */
    preparedStatements: z.boolean().optional(),
    /**
     * Append statements in flight at once (default 2, and never more than half the pool).
     * Appends of other runs that arrive while that many are out wait and go together, up to
     * 16 in one statement and one commit, each with its own checks and answer. Every commit
     * waits for the log to reach the disk; one that carries 16 appends waits once, where 16
     * statements would each pay a transaction, a server process woken and a socket write.
     * Raise it only when a statement's own work (large payloads, a server with many cores)
     * rather than the commit is what holds appends back.
     */
    maxAppendStatements: z.number().int('must be a whole number').min(1).max(1000).optional(),
    /** Checked by hand below: a schema cannot describe an object with methods well. */
    clock: z.unknown().optional(),
  })
  .superRefine(requireOneSource);
export type PostgresWorldOptions = Omit<z.input<typeof postgresWorldOptionsSchema>, 'clock'> & {
  /**
   * A clock that replaces the database's, for tests on a virtual clock (see `@cairn/testing`).
   * Default: none, and every time is the database server's (`now_ms()`), so processes with
   * skewed clocks agree. With a clock, the times this World stamps and the due times it
   * judges read it instead: events' and chunks' `createdAt`, a message's `enqueuedAt` and
   * `deliverAt`, and when a delayed message is delivered. Leases stay on the database
   * clock, since they judge whether a handler is still alive. Sound only while this World
   * object is the only writer of its schema: give the same clock to every worker, and never
   * to Worlds in several processes. Throws `InvalidInputError` for an object without
   * `now()` and `schedule()`.
   */
  clock?: Clock;
};

export interface PostgresWorld extends World {
  /** Connects and migrates now instead of on first use, to surface a connection error early. */
  open(): Promise<void>;
}

/**
 * The production World: event logs, views, queue and streams in one PostgreSQL schema,
 * shared by any number of processes.
 *
 * - Appends are one transaction each, serialised per run by a row lock (postgres-append.ts).
 * - The queue leases with FOR UPDATE SKIP LOCKED; group exclusivity holds across processes
 *   through a lock row per group (queue-sql.ts).
 * - LISTEN/NOTIFY wakes watchers, consumers and stream readers; polling is only the fallback.
 *
 * Nothing connects until first use (or `open()`), which also applies pending migrations.
 * An unreachable database is `WorldUnavailableError` naming host:port.
 */
export function createPostgresWorld(options: PostgresWorldOptions): PostgresWorld {
  const parsed = parseInput(postgresWorldOptionsSchema, options, 'options');
  checkConnectionString(parsed);
  const clock = parsed.clock as Clock | undefined;
  if (clock !== undefined && (typeof clock?.now !== 'function' || typeof clock?.schedule !== 'function')) {
    throw new InvalidInputError({ field: 'options.clock', value: clock, reason: 'must have now() and schedule()' });
  }
  const schema = parsed.schema ?? 'cairn';
  const location = locationOf(parsed);
  const name = `postgres:${location}/${schema}`;
  const maxPayloadBytes = parsed.maxPayloadBytes ?? 16 * 1024 * 1024;
  const pollIntervalMs = parsed.pollIntervalMs ?? 500;
  const capabilities: WorldCapabilities = {
    sharedAcrossProcesses: true,
    durability: 'database',
    maxPayloadBytes,
    maxFutureCreatedAtMs: 10_000,
    notifications: 'push',
    // The hook_deliveries key refuses a repeat in every process (migration 9).
    uniqueDeliveryIds: true,
    queue: {
      maxDelayMs: maxQueueDelayMs,
      defaultLeaseMs: parsed.defaultLeaseMs ?? 30_000,
      idempotencyRetentionMs: parsed.idempotencyRetentionMs ?? 24 * 60 * 60 * 1000,
      claims: true,
    },
    streams: { maxChunkBytes: Math.min(maxPayloadBytes, 4 * 1024 * 1024), closedWithRun: true },
  };
  const { pool, owned, release } = openPool(parsed);
  const db = new Database(
    pool,
    schema,
    name,
    location,
    async () => {
      if (parsed.migrate !== false) {
        await applyMigrations(pool, schema);
        return;
      }
      const rows = await pool
        .query<{ version: number | null }>(`SELECT max(version) AS version FROM ${db.tables.migrations}`)
        .then((result) => result.rows)
        .catch(() => []);
      if ((rows[0]?.version ?? 0) < latestVersion) {
        throw new WorldUnavailableError({
          world: name,
          location,
          reason: `schema "${schema}" is not migrated to version ${latestVersion}; run migrate() first`,
        });
      }
    },
    clock,
    parsed.preparedStatements ?? true,
    parsed.maxAppendStatements,
  );
  const notifications = new Notifications(pool, db.channel);
  const events = new PostgresEventLog(db, notifications, {
    maxPayloadBytes,
    maxFutureCreatedAtMs: capabilities.maxFutureCreatedAtMs,
    idempotencyRetentionMs: capabilities.queue.idempotencyRetentionMs,
    pollIntervalMs,
  });
  const views = new PostgresViews(db);
  const queue = new PostgresQueue(db, notifications, { ...capabilities.queue, maxPayloadBytes, pollIntervalMs });
  const streams = new PostgresStreams(db, notifications, capabilities.streams.maxChunkBytes, pollIntervalMs);

  let closing: Promise<void> | undefined;
  return {
    name,
    capabilities,
    open: () => db.open(),
    events: {
      create: events.create.bind(events),
      createBatch: events.createBatch.bind(events),
      list: events.list.bind(events),
      get: events.get.bind(events),
      watch: events.watch.bind(events),
    },
    runs: views.runs,
    steps: views.steps,
    hooks: views.hooks,
    waits: views.waits,
    queue: {
      send: queue.send.bind(queue),
      consume: queue.consume.bind(queue),
      extendClaim: queue.extendClaim.bind(queue),
      settleClaim: queue.settleClaim.bind(queue),
    },
    streams: {
      write: streams.write.bind(streams),
      close: streams.close.bind(streams),
      read: streams.read.bind(streams),
      list: streams.list.bind(streams),
    },
    close: () => {
      closing ??= (async () => {
        // Live waits end first, so no handler can keep close() waiting on a watch; then
        // consumers drain (their handlers may still use the World); then everything rejects.
        db.closing = true;
        notifications.wakeAll();
        await queue.close();
        // The last appends' notifications still go out: other processes may be waiting on them.
        await db.publisher.sent();
        db.closed = true;
        await notifications.close();
        release();
        if (owned) await pool.end().catch(() => {});
      })();
      return closing;
    },
  };
}
