// Settling the shared server between systems (src/settle.mjs), on a real PostgreSQL: it
// returns once nothing runs, reports what still runs when its time is up, and pays off
// the autovacuum a table is owed instead of waiting for a worker that may never finish.
import { startPostgres } from '@cairn/world-postgres/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { databaseUrl } from '../src/databases.mjs';
import { settleServer } from '../src/settle.mjs';

describe('settling the shared server', () => {
  let server;
  let admin;
  beforeAll(async () => {
    server = await startPostgres('settle');
    admin = new pg.Client({ connectionString: server.connectionString });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    await server?.stop();
  });

  const connect = async (database = 'settle') => {
    const client = new pg.Client({ connectionString: databaseUrl(server.connectionString, database) });
    await client.connect();
    return client;
  };
  const checkpointLsn = async () =>
    (await admin.query('SELECT checkpoint_lsn FROM pg_control_checkpoint()')).rows[0].checkpoint_lsn;
  /** Waits for a condition with no event to await, up to `ms`: whether it came true. */
  const eventually = async (condition, ms) => {
    const deadline = Date.now() + ms;
    while (!(await condition())) {
      if (Date.now() > deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return true;
  };
  const busyClients = async () =>
    (
      await admin.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = 'client backend' AND state = 'active' AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()`,
      )
    ).rows[0].n;

  it('waits for a running statement to end', async () => {
    const sleeper = await connect('postgres');
    try {
      let sleeperDone = false;
      const sleeping = sleeper.query('SELECT pg_sleep(1.5)').then(() => {
        sleeperDone = true;
      });
      expect(await eventually(async () => (await busyClients()) === 1, 5_000), 'the sleeper runs').toBe(true);
      const settled = await settleServer(admin, {
        connectionString: server.connectionString,
        vacuum: false,
        timeoutMs: 20_000,
      });
      expect(settled.unsettled).toBeUndefined();
      expect(sleeperDone, 'settle returned only after the running statement ended').toBe(true);
      expect(settled.waitMs).toBeGreaterThanOrEqual(1_000);
      await sleeping;
    } finally {
      await sleeper.end();
    }
  });

  it('vacuums and analyses every database and checkpoints; idle connections are no reason to wait', async () => {
    const writer = await connect();
    const idler = await connect('postgres');
    try {
      await writer.query('CREATE TABLE churn (id int PRIMARY KEY)');
      await writer.query('INSERT INTO churn SELECT generate_series(1, 5000)');
      await writer.query('DELETE FROM churn WHERE id % 2 = 0');
      await idler.query('SELECT 1');
      const before = await checkpointLsn();
      const settled = await settleServer(admin, { connectionString: server.connectionString, timeoutMs: 20_000 });
      expect(settled.unsettled).toBeUndefined();
      expect(settled.waitMs).toBeLessThan(1_000);
      expect(await checkpointLsn(), 'a checkpoint ran').not.toBe(before);
      const { rows } = await writer.query(
        `SELECT n_dead_tup, last_vacuum IS NOT NULL AS vacuumed, last_analyze IS NOT NULL AS analysed
           FROM pg_stat_user_tables WHERE relname = 'churn'`,
      );
      expect(rows[0]).toEqual({ n_dead_tup: '0', vacuumed: true, analysed: true });
    } finally {
      await writer.end();
      await idler.end();
    }
  });

  it('reports a statement still running when the time is up, without waiting for it', async () => {
    const sleeper = await connect();
    try {
      // Its outcome is taken at once, so the cancellation below never goes unhandled.
      const sleeping = sleeper.query('SELECT pg_sleep(8)').then(
        () => 'finished',
        (error) => error.message,
      );
      expect(await eventually(async () => (await busyClients()) === 1, 5_000), 'the sleeper runs').toBe(true);
      const started = Date.now();
      const settled = await settleServer(admin, {
        connectionString: server.connectionString,
        vacuum: false,
        timeoutMs: 500,
      });
      expect(settled.unsettled).toBe('1 other client running a statement or transaction still busy after 0.5 s');
      expect(settled.waitMs).toBeGreaterThanOrEqual(500);
      expect(Date.now() - started, 'gave up at the timeout, not when the statement ended').toBeLessThan(5_000);
      await admin.query(
        `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(8)' AND pid <> pg_backend_pid()`,
      );
      expect(await sleeping).toMatch(/canceling statement/);
    } finally {
      await sleeper.end();
    }
  });

  it('sees an autovacuum worker, and the VACUUM it runs itself ends that wait', async () => {
    // Autovacuum looks at each database every second, and is throttled on this table to a
    // page every 100 ms or so: once started on it, a worker stays busy for minutes.
    await admin.query('ALTER SYSTEM SET autovacuum_naptime = 1');
    await admin.query('SELECT pg_reload_conf()');
    const writer = await connect();
    try {
      await writer.query(
        'CREATE TABLE owed (id int, other int) WITH (autovacuum_vacuum_cost_delay = 100, autovacuum_vacuum_cost_limit = 1)',
      );
      await writer.query('INSERT INTO owed SELECT n, n FROM generate_series(1, 200000) AS n');
      await writer.query('DELETE FROM owed');
      // Other tables (the catalogs) may get a worker of their own first, done in moments.
      const vacuumingOwed = async () =>
        (await writer.query(`SELECT count(*)::int AS n FROM pg_stat_progress_vacuum WHERE relid = 'owed'::regclass`))
          .rows[0].n > 0;
      expect(await eventually(vacuumingOwed, 20_000), 'an autovacuum worker started on the table').toBe(true);

      const waitingOnly = await settleServer(admin, {
        connectionString: server.connectionString,
        vacuum: false,
        timeoutMs: 500,
      });
      // Another database's catalogs may have a worker of their own at that moment.
      expect(waitingOnly.unsettled).toMatch(/^\d+ autovacuum workers? still busy after 0\.5 s$/);

      // VACUUM asks for the table's lock; autovacuum gives way to it (after deadlock_timeout,
      // a second), and with its dead rows gone the table is owed nothing more.
      const settled = await settleServer(admin, { connectionString: server.connectionString, timeoutMs: 20_000 });
      expect(settled.unsettled).toBeUndefined();
    } finally {
      await writer.end();
      await admin.query('ALTER SYSTEM RESET autovacuum_naptime');
      await admin.query('SELECT pg_reload_conf()');
    }
  });
});
