import { createHash, randomBytes } from 'node:crypto';
import { CairnError, type Clock, WorldClosedError, WorldUnavailableError } from '@cairn/core/world';
import type { Pool, PoolClient, QueryConfig } from 'pg';
import { NotificationPublisher } from './notification-publisher.js';
import { sendStatement } from './send-statement.js';
import { type Tables, tablesFor } from './tables.js';

/** SQLSTATE classes and Node socket codes that mean "the database cannot be reached", not "the query was wrong". */
const unavailableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '53300', // too_many_connections
]);

/** The error's SQLSTATE or socket code, if it has one. */
export const errorCode = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string'
    ? (error as { code: string }).code
    : undefined;

/** A unique violation on the named index or constraint. */
export const isUniqueViolation = (error: unknown, constraint: string): boolean =>
  errorCode(error) === '23505' && (error as { constraint?: string }).constraint === constraint;

function isUnavailable(error: unknown): boolean {
  const code = errorCode(error);
  if (code !== undefined && (unavailableCodes.has(code) || code.startsWith('08'))) return true;
  const message = error instanceof Error ? error.message : '';
  // pg reports pool and socket failures as plain Errors without a code.
  return /Connection terminated|timeout exceeded when trying to connect|connect ETIMEDOUT|Client has encountered a connection error/i.test(
    message,
  );
}

/**
 * The pool plus what every module needs around it: table names, the NOTIFY channel, and
 * one place that turns driver errors into the contract's errors. A connection failure is
 * `WorldUnavailableError` naming host:port (retryable: the same call may work once the
 * database is back); a call after `close()` is `WorldClosedError`.
 */
export class Database {
  readonly tables: Tables;
  readonly channel: string;
  /** Set when close() starts: no new consumers, live waits (watch, stream reads) end. */
  closing = false;
  /** Set once consumers have drained: every call rejects. */
  closed = false;
  private opening: Promise<void> | undefined;
  /** Name by statement text; undefined when statements are sent unnamed. */
  private readonly statementNames: Map<string, string> | undefined;
  /** Sends appends' notifications after their commits. */
  readonly publisher = new NotificationPublisher(this);
  /**
   * This World's name in a run row's `watcher`: a run whose row names this World alone has
   * no other World to tell of its appends, and they send no NOTIFY (migration 11). Random
   * and fresh for every World (96 bits, 16 characters, so it adds little to a row written
   * at every step), so a restarted process is another World to the runs it had.
   */
  readonly watcherId = randomBytes(12).toString('base64url');

  /**
   * The update that marks run `$1` as watched by others (`$2` is `watcherId`), so every later
   * append of it sends a NOTIFY. It changes only a row that names another World as its one
   * watcher: one naming this World needs no mark (this World's own appends wake its waiters
   * in process), and one marked already, or naming none, notifies on every append.
   */
  markWatchedSql(): string {
    return `UPDATE ${this.tables.runs} SET watcher = '*' WHERE run_id = $1 AND watcher <> '*' AND watcher <> $2`;
  }

  /** Whether `markWatchedSql` would change a run row whose `watcher` this is. */
  needsWatchedMark(watcher: string | null): boolean {
    return watcher !== null && watcher !== '*' && watcher !== this.watcherId;
  }

  constructor(
    readonly pool: Pool,
    readonly schema: string,
    readonly worldName: string,
    /** `host:port` (or socket path) the pool connects to, for error messages. */
    readonly location: string,
    /** Runs once before the first query (the migrations); retried on the next call if it fails. */
    private readonly prepare: () => Promise<void>,
    /** An injected clock that replaces the database's (see `PostgresWorldOptions.clock`). */
    readonly clock?: Clock,
    /** Send parameterised statements by name (see `statement`). */
    preparedStatements = true,
    /** Append statements in flight at once (see `PostgresWorldOptions.maxAppendStatements`). */
    readonly maxAppendStatements = 2,
  ) {
    this.tables = tablesFor(schema, clock);
    // An injected clock is written into the text of every statement, so no text repeats.
    this.statementNames = preparedStatements && clock === undefined ? new Map() : undefined;
    // One channel per schema: Worlds in other schemas of the same database never wake each other.
    this.channel = `cairn_${schema}`;
  }

  assertOpen(): void {
    if (this.closed) throw new WorldClosedError({ world: this.worldName });
  }

  assertNotClosing(): void {
    if (this.closing || this.closed) throw new WorldClosedError({ world: this.worldName });
  }

  /**
   * Connects and migrates on first use. A failure is not remembered: the error is
   * `WorldUnavailableError` (retryable), and the next call tries again.
   */
  open(): Promise<void> {
    if (this.closed) return Promise.reject(new WorldClosedError({ world: this.worldName }));
    this.opening ??= this.prepare().catch((error: unknown) => {
      this.opening = undefined;
      throw this.mapError(error);
    });
    return this.opening;
  }

  /** Turns a driver error into the contract's error; contract errors pass through untouched. */
  mapError(error: unknown): unknown {
    if (CairnError.is(error)) return error;
    if (this.closed) return new WorldClosedError({ world: this.worldName, cause: error });
    if (isUnavailable(error)) {
      const reason = error instanceof Error ? error.message || errorCode(error) || 'connection failed' : String(error);
      return new WorldUnavailableError({ world: this.worldName, location: this.location, reason, cause: error });
    }
    return error;
  }

  /**
   * One statement on any pooled connection. `planEachTime`: send it unnamed, so it is
   * planned for its values every time; for a statement whose best plan depends on which of
   * its parameters are null, where a generic plan would pick one plan for all of them.
   */
  async query<Row extends object = Record<string, unknown>>(
    text: string,
    values?: unknown[],
    { planEachTime = false }: { planEachTime?: boolean } = {},
  ): Promise<Row[]> {
    return this.checkedOut(async (client, lease) => {
      try {
        return (await sendStatement<Row>(client, planEachTime ? { text, values } : this.statement(text, values))).rows;
      } catch (error) {
        // The pool's own query() discards the connection on any error. A statement the server
        // refused (a guard, a key) leaves it idle and healthy, and the World's appends go the
        // long way by exactly such refusals; discarding it would make the next statement
        // connect, start a server process and prepare its statements again.
        if (!isRefusalOnHealthyConnection(error, client)) lease.broken = asError(error);
        throw this.mapError(error);
      }
    });
  }

  /**
   * The query to send. A statement with parameters goes by a name derived from its text, so
   * each connection parses it once and PostgreSQL may keep its plan: the queue's lease took
   * longer to plan than to run. Only texts with parameters are named, and those come from a
   * fixed set of templates (values never enter their text); past `maxNamedStatements`
   * distinct texts, further ones go unnamed, so a connection's prepared set stays bounded
   * whatever a future caller does. The name is a digest of the text, so Worlds sharing a
   * pool never give one name to two texts.
   */
  statement(text: string, values: unknown[] | undefined): QueryConfig {
    const names = this.statementNames;
    if (names === undefined || values === undefined) return { text, values };
    let name = names.get(text);
    if (name === undefined) {
      if (names.size >= maxNamedStatements) return { text, values };
      name = `cairn_${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
      names.set(text, name);
    }
    return { name, text, values };
  }

  /**
   * Runs `work` in one READ COMMITTED transaction on one connection. READ COMMITTED is
   * explicit (a pool's default might be stricter) because the fenced append relies on it:
   * every statement after the run's row lock takes a fresh snapshot that includes the
   * transaction that held the lock before us.
   *
   * With `selfDelimited`, `work` sends BEGIN and COMMIT itself, inside its own
   * multi-statement queries, to save the round trips; a failure is still rolled back here.
   */
  async transaction<Result>(
    work: (client: PoolClient) => Promise<Result>,
    { selfDelimited = false }: { selfDelimited?: boolean } = {},
  ): Promise<Result> {
    return this.checkedOut(async (client, lease) => {
      try {
        if (!selfDelimited) await sendStatement(client, beginReadCommitted);
        const result = await work(client);
        if (!selfDelimited) await sendStatement(client, 'COMMIT');
        return result;
      } catch (error) {
        try {
          await sendStatement(client, 'ROLLBACK');
        } catch (rollbackError) {
          // A connection that cannot roll back must not go back to the pool.
          lease.broken = asError(rollbackError);
        }
        throw this.mapError(error);
      }
    });
  }

  /**
   * Runs `work` on a connection checked out of the pool, and gives the connection back
   * after; `work` sets `lease.broken` when the connection must not be used again. A
   * connection that dies while checked out emits 'error' on the client; unheard, that is an
   * uncaught exception that kills the whole process. The running query rejects with the
   * same error, which is how it reaches the caller. Connections the pool opened after the
   * World took it keep a listener for life (see `openPool`); this one covers those a
   * caller's pool had opened before.
   */
  private async checkedOut<Result>(
    work: (client: PoolClient, lease: { broken?: Error }) => Promise<Result>,
  ): Promise<Result> {
    this.assertOpen();
    await this.open();
    let client: PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      throw this.mapError(error);
    }
    const ignoreConnectionError = () => {};
    client.on('error', ignoreConnectionError);
    const lease: { broken?: Error } = {};
    try {
      return await work(client, lease);
    } finally {
      client.off('error', ignoreConnectionError);
      client.release(lease.broken);
    }
  }
}

const asError = (error: unknown): Error => (error instanceof Error ? error : new Error(String(error)));

/**
 * Whether `error` is the server's refusal of one statement on a connection that is idle
 * again, outside any transaction: a message from the server (it carries a severity) that is
 * not one of the connection-loss codes, after which the server's ReadyForQuery said "idle".
 * A session the server ended anyway is no longer queryable, and the pool drops it itself.
 */
function isRefusalOnHealthyConnection(error: unknown, client: PoolClient): boolean {
  if (typeof (error as { severity?: unknown } | undefined)?.severity !== 'string' || isUnavailable(error)) return false;
  return (client as PoolClient & { getTransactionStatus?: () => string | null }).getTransactionStatus?.() === 'I';
}

/** More distinct parameterised texts than the World's templates can produce: a safety cap. */
const maxNamedStatements = 200;

export const beginReadCommitted = 'BEGIN ISOLATION LEVEL READ COMMITTED';

/** Reads a bigint column (pg returns int8 as a string) as a number of milliseconds. */
export const toMs = (value: unknown): number => Number(value);
