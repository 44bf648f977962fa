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
    /**
     * Commit records and WAL bytes between `start` and now. With `database`, `commits`
     * counts only transactions that wrote a table of that database (a relation numbered
     * past the catalog's, 16384 on), so another database's work and the statistics
     * autovacuum's ANALYZE writes to the catalog do not count; `allCommits` counts every
     * commit. The bytes are always the whole window's.
     */
    async since(start, { database } = {}) {
      const end = await position();
      if (end === start) return { commits: 0, allCommits: 0, walBytes: 0 }; // pg_walinspect refuses an empty range
      const { rows } = await client.query(
        `WITH wal AS (SELECT xid, resource_manager, record_type, block_ref, description
                        FROM pg_get_wal_records_info($1, $2)),
              writers AS (
                SELECT DISTINCT wal.xid::text AS xid FROM wal,
                  LATERAL regexp_matches(coalesce(wal.block_ref, ''), 'rel \\d+/(\\d+)/(\\d+)', 'g') AS relation
                WHERE relation[1]::oid = (SELECT oid FROM pg_database WHERE datname = $3)
                  AND relation[2]::bigint >= 16384),
              commits AS (
                SELECT xid::text AS xid, description FROM wal
                WHERE resource_manager = 'Transaction' AND record_type = 'COMMIT')
         SELECT (SELECT count(*) FROM commits)::int AS all_commits,
                -- A write inside a savepoint is logged under the subtransaction's id, which
                -- the commit record lists after "subxacts:".
                (SELECT count(*) FROM commits
                  WHERE xid IN (SELECT xid FROM writers)
                     OR EXISTS (SELECT 1 FROM regexp_matches(
                                  coalesce(substring(description FROM 'subxacts:([0-9 ]+)'), ''), '\\d+', 'g') AS sub
                                WHERE sub[1] IN (SELECT xid FROM writers)))::int AS own_commits,
                pg_wal_lsn_diff($2, $1)::bigint AS bytes`,
        [start, end, database ?? null],
      );
      const { all_commits: allCommits, own_commits: ownCommits, bytes } = rows[0];
      return { commits: database === undefined ? allCommits : ownCommits, allCommits, walBytes: Number(bytes) };
    },
    close: () => client.end(),
  };
}
