// Durable commits, counted in PostgreSQL's write-ahead log with pg_walinspect: every
// transaction that wrote something leaves exactly one COMMIT record, and read-only
// transactions (polls, LISTEN) leave none. Counting records between two flush positions
// needs no statistics flush and no cooperation from the system being measured.
//
// WAL bytes also hold full-page images: the first change to a page after a checkpoint logs
// the whole page. How many a window holds depends on when the server last checkpointed,
// not on the system measured. A measurement that starts with `checkpoint()` sees about the
// same number whatever ran before it (within 10% in the test, against 6× without).
import pg from 'pg';

export async function openWalProbe(adminConnectionString) {
  const client = new pg.Client({ connectionString: adminConnectionString });
  await client.connect();
  await client.query('CREATE EXTENSION IF NOT EXISTS pg_walinspect');
  const position = async () => (await client.query('SELECT pg_current_wal_flush_lsn() AS lsn')).rows[0].lsn;
  return {
    position,
    /** Forces a checkpoint, so the next window's full-page images do not depend on history. */
    checkpoint: async () => {
      await client.query('CHECKPOINT');
    },
    /** Commit records and WAL bytes between `start` and now. */
    async since(start) {
      const end = await position();
      if (end === start) return { commits: 0, walBytes: 0 }; // pg_walinspect refuses an empty range
      const { rows } = await client.query(
        `SELECT count(*) FILTER (WHERE resource_manager = 'Transaction' AND record_type = 'COMMIT')::int AS commits,
                pg_wal_lsn_diff($2, $1)::bigint AS bytes
           FROM pg_get_wal_records_info($1, $2)`,
        [start, end],
      );
      return { commits: rows[0].commits, walBytes: Number(rows[0].bytes) };
    },
    close: () => client.end(),
  };
}
