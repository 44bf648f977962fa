// Settling the shared PostgreSQL server before a system is measured. Every system writes to
// the same server, and what a system writes leaves the server work to do after it has
// finished: autovacuum for its dead and new rows, dirty buffers a checkpoint has to write
// out, a backend of a closed driver still finishing. Left alone, that work runs while the
// next system is measured, on the same two cores, and a system measured later in a round
// can look slower than it is.
//
// Waiting for autovacuum workers alone would not settle it: the launcher looks at each
// database about once a minute (autovacuum_naptime), so a table the previous system left
// with dead rows can start a worker half a minute into the next system's measurement,
// long after a wait saw none. The debt is paid up front instead, outside any timing: every
// database is vacuumed and analysed (which resets the counts autovacuum acts on, and makes
// a worker busy on one of its tables give way), then the server is watched until no
// autovacuum worker and no other client's statement is running, then a checkpoint writes
// out what all that left dirty. A system still meets the autovacuum its own writes cause
// while it is measured, as it would in production; only what earlier systems left behind
// is taken off it. Every database, not only the previous system's: the runner's own floor
// table and a peer's extra databases are covered without naming them, and a database
// vacuumed before and unchanged since costs a few milliseconds.
import pg from 'pg';
import { databaseUrl } from './databases.mjs';

/** Databases never vacuumed here: the templates, which nothing writes to. */
const databasesSql = 'SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname';

/**
 * What keeps the server busy now: autovacuum workers, and client backends other than the
 * one asking that are running a statement or sit inside a transaction. Idle connections
 * (a probe between its samples) do not count.
 */
const busySql = `
  SELECT count(*) FILTER (WHERE backend_type = 'autovacuum worker')::int AS autovacuum,
         count(*) FILTER (WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()
                            AND state IS DISTINCT FROM 'idle')::int AS clients
    FROM pg_stat_activity`;

const elapsedSince = (started) => Math.round(performance.now() - started);

/**
 * Settles the server `admin` (a connected pg client, superuser) is on, `connectionString`
 * being how `admin` reached it: `VACUUM (ANALYZE)` in every database, each on a connection
 * of its own (`vacuum: false` skips it); then waits, polling every `pollMs`, up to
 * `timeoutMs` until no autovacuum worker and no other client's statement is running; then
 * `CHECKPOINT` on `admin`. Never throws for a server that stays busy: the result's
 * `unsettled` says what was still running when the time ran out, for the caller to report.
 *
 * @returns {Promise<{ ms: number, vacuumMs: number, waitMs: number, checkpointMs: number,
 *   unsettled?: string }>} durations in whole milliseconds
 */
export async function settleServer(admin, { connectionString, vacuum = true, timeoutMs = 60_000, pollMs = 50 }) {
  const started = performance.now();
  if (vacuum) {
    const { rows } = await admin.query(databasesSql);
    for (const { datname } of rows) {
      const client = new pg.Client({ connectionString: databaseUrl(connectionString, datname) });
      await client.connect();
      try {
        await client.query('VACUUM (ANALYZE)');
      } finally {
        await client.end();
      }
    }
  }
  const vacuumMs = elapsedSince(started);

  // Waiting comes before the checkpoint, so that what an autovacuum worker still had to
  // write is flushed by it too.
  const waitStarted = performance.now();
  const deadline = waitStarted + timeoutMs;
  let unsettled;
  for (;;) {
    const { autovacuum, clients } = (await admin.query(busySql)).rows[0];
    if (autovacuum === 0 && clients === 0) break;
    if (performance.now() >= deadline) {
      unsettled = [
        autovacuum > 0 ? `${autovacuum} autovacuum worker${autovacuum === 1 ? '' : 's'}` : undefined,
        clients > 0
          ? `${clients} other client${clients === 1 ? '' : 's'} running a statement or transaction`
          : undefined,
      ]
        .filter(Boolean)
        .join(' and ')
        .concat(` still busy after ${timeoutMs / 1000} s`);
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  const waitMs = elapsedSince(waitStarted);

  const checkpointStarted = performance.now();
  await admin.query('CHECKPOINT');
  const checkpointMs = elapsedSince(checkpointStarted);
  return {
    ms: elapsedSince(started),
    vacuumMs,
    waitMs,
    checkpointMs,
    ...(unsettled === undefined ? {} : { unsettled }),
  };
}
