import { type Clock, InvalidInputError } from '@cairn/core/world';

/** Fully qualified, quoted table names for one schema. */
export interface Tables {
  schema: string;
  migrations: string;
  runs: string;
  events: string;
  steps: string;
  hooks: string;
  waits: string;
  messages: string;
  groups: string;
  streams: string;
  chunks: string;
  deliveries: string;
  /** SQL for the time stamps and due times are judged by: the database's, or the injected clock's. */
  nowMs: string;
  /** SQL for the time leases are judged by: always the database's, since a lease judges whether a process is alive. */
  leaseNowMs: string;
  /** The injected clock's reading as a value, for statements that take "now" as a parameter; null for the database's. */
  injectedNow(): number | null;
}

/**
 * Table names for one schema. `nowMs` is the SQL for "now": the database's clock, or, with
 * an injected `clock`, that clock's reading as a literal, taken afresh each time a statement
 * is built (statements are built per query, so every query sees the clock's current time).
 */
export function tablesFor(schema: string, clock?: Clock): Tables {
  const quoted = `"${schema}"`;
  const databaseNow = `${quoted}.now_ms()`;
  return {
    schema: quoted,
    migrations: `${quoted}.cairn_migrations`,
    runs: `${quoted}.runs`,
    events: `${quoted}.events`,
    steps: `${quoted}.steps`,
    hooks: `${quoted}.hooks`,
    waits: `${quoted}.waits`,
    messages: `${quoted}.queue_messages`,
    groups: `${quoted}.queue_groups`,
    streams: `${quoted}.streams`,
    chunks: `${quoted}.stream_chunks`,
    deliveries: `${quoted}.hook_deliveries`,
    leaseNowMs: databaseNow,
    // The database's clock, so every process stamps and compares times on one clock.
    get nowMs() {
      const now = this.injectedNow();
      return now === null ? databaseNow : `${now}::bigint`;
    },
    injectedNow() {
      if (clock === undefined) return null;
      const now = clock.now();
      // Interpolated into SQL text, so it must be a plain whole number.
      if (!Number.isSafeInteger(now) || now < 0) {
        throw new InvalidInputError({ field: 'options.clock', value: now, reason: 'now() must return whole ms ≥ 0' });
      }
      return now;
    },
  };
}
