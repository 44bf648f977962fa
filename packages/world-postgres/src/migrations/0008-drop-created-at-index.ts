/**
 * The `(run_id, created_at, seq)` index on events goes. It served one read: the tail an
 * `asOfTimestamp` fence resolves to, the last event older than an instant. Every event
 * paid for it with an index entry, about 107 bytes of write-ahead log each (two events per
 * step, some 9% of a step's log), for a fence the engine never uses. `created_at` never
 * decreases within a run, so the long way now finds that event by bisecting the run's
 * seqs on the primary key (`postgres-prefetch.ts`): about log2(events) lookups, as cheap
 * as the index was for any run that fits in memory.
 *
 * A World of an earlier version, still running during a rolling deploy, resolves such a
 * fence by reading the run's events through the primary key instead: slower for a long
 * run, and still right. Dropping an index waits for appends in progress, then takes a
 * moment.
 */
export const dropCreatedAtIndexSchema = `
DROP INDEX IF EXISTS {{schema}}.events_created_at;
`;
