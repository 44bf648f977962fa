import {
  type CreateEventParams,
  type CreateEventRequest,
  type CreateEventResult,
  nextCommitStamp,
  type Run,
  RunDraft,
  type RunEntityReader,
} from '@cairn/core/world';
import type { QueryResult } from 'pg';
import { beginReadCommitted, type Database, errorCode } from './database.js';
import { inlineParameters } from './inline-sql.js';
import {
  type AppendSettings,
  inline,
  inlinedSize,
  maxInlineBytes,
  type Statement,
  writeStatements,
} from './postgres-append.js';
import { type OutboxStatement, outboxStatements, reportClaims } from './postgres-outbox.js';
import { cachedReader, type RunCache } from './run-cache.js';

/** Events a warm append may always carry: none of them reads hooks. */
const warmEventTypes = new Set([
  'run_started',
  'run_waiting',
  'step_created',
  'step_started',
  'step_completed',
  'step_failed',
  'step_retrying',
  'wait_created',
  'wait_completed',
]);

/**
 * Events a warm append may carry only when the cache holds every active hook of the run: a
 * batch that ends the run releases them all, and hook events read them. (A token held in
 * another run is the live-token index's to refuse.)
 */
const hookEventTypes = new Set([
  'run_completed',
  'run_failed',
  'run_cancelled',
  'hook_created',
  'hook_received',
  'hook_disposed',
]);

/** SQLSTATEs by which the guards and keys below say "the cache was not the run's present". */
const divisionByZero = '22012';
const uniqueViolation = '23505';
/** Two batches claiming each other's tokens: the long way retries it. */
const deadlockDetected = '40P01';

/**
 * The append in one round trip, for the common case: a batch with a proposed `createdAt`
 * to a run this World appended to last. The draft is built from the cached run before the
 * database is reached, and one multi-statement query sends BEGIN, two guards, the writes
 * and COMMIT. The guards fail the transaction (by dividing by zero, which needs no function
 * in the schema) unless the run's row, locked, still has the cached tail, and unless the
 * proposed stamp is within the database clock's window, exactly the checks the long way
 * makes after its reads. A key that refuses an insert (an entity the cache did not know)
 * fails it too. Any of these rolls back, and the caller goes the long way, which reads the
 * truth and answers as it always did (including with the right error).
 *
 * Returns undefined when the batch is not eligible or the cache was stale.
 */
export async function appendFromCache(
  db: Database,
  cache: RunCache,
  runId: string,
  requests: readonly CreateEventRequest[],
  params: CreateEventParams | undefined,
  { maxFutureCreatedAtMs, idempotencyRetentionMs }: AppendSettings,
): Promise<CreateEventResult[] | undefined> {
  const createdAt = params?.createdAt;
  if (createdAt === undefined || params?.asOfTimestamp !== undefined) return undefined;
  const known = cache.get(runId);
  if (known === undefined) {
    return requests[0]?.eventType === 'run_created' && params?.lastKnownEventId === undefined
      ? createWarm(db, cache, runId, requests, params ?? {}, createdAt, {
          maxFutureCreatedAtMs,
          idempotencyRetentionMs,
        })
      : undefined;
  }
  const eligible = (eventType: string) =>
    warmEventTypes.has(eventType) || (known.hooksComplete && hookEventTypes.has(eventType));
  if (!requests.every((request) => eligible(request.eventType))) return undefined;
  // A fence or a stamp the cached run already refuses: the long way reports it with the truth.
  if (params?.lastKnownEventId !== undefined && params.lastKnownEventId !== known.run.lastEventId) return undefined;
  if (createdAt < known.run.updatedAt) return undefined;
  const drafted = draftWrites(
    db,
    runId,
    known.run,
    cachedReader(known),
    requests,
    params,
    createdAt,
    idempotencyRetentionMs,
  );
  if (drafted === undefined) return undefined;
  const { draft, results, statements } = drafted;
  const tailGuard = inlineParameters(
    `SELECT 1 / (SELECT count(*)::int FROM (
       SELECT 1 FROM ${db.tables.runs} WHERE run_id = $1 AND last_seq = $2 FOR NO KEY UPDATE) AS locked)`,
    [runId, known.run.lastSeq],
  );
  // A separate statement, so the clock is read after the lock was granted, as the long way does.
  const guards = [tailGuard, clockGuard(db, createdAt, maxFutureCreatedAtMs)];
  const statementResults = await commitGuarded(db, guards, statements);
  if (statementResults === undefined) {
    cache.forget(runId);
    return undefined;
  }
  cache.remember(draft, { steps: [], waits: [], hooks: [] }, known);
  return reportClaims(statements, statementResults, results);
}

/** What a run that does not exist yet holds: nothing. */
const nothingYet: RunEntityReader = {
  step: () => undefined,
  wait: () => undefined,
  hook: () => undefined,
  tokenHolder: () => undefined,
  activeHooks: () => [],
};

/**
 * A run's creation in one round trip, when it carries a proposed `createdAt`: drafted as a
 * new run, guarded only by the clock. If the id is taken after all, the insert of its first
 * event breaks the log's key (a creator racing us waits on our row, and then breaks it), and
 * the long way, which takes the creation lock and reads, gives the answer it always gave.
 */
async function createWarm(
  db: Database,
  cache: RunCache,
  runId: string,
  requests: readonly CreateEventRequest[],
  params: CreateEventParams,
  createdAt: number,
  { maxFutureCreatedAtMs, idempotencyRetentionMs }: AppendSettings,
): Promise<CreateEventResult[] | undefined> {
  const drafted = draftWrites(db, runId, undefined, nothingYet, requests, params, createdAt, idempotencyRetentionMs);
  if (drafted === undefined) return undefined;
  const { draft, results, statements } = drafted;
  const statementResults = await commitGuarded(db, [clockGuard(db, createdAt, maxFutureCreatedAtMs)], statements);
  if (statementResults === undefined) return undefined;
  cache.remember(draft, { steps: [], waits: [], hooks: [] });
  return reportClaims(statements, statementResults, results);
}

/**
 * The batch drafted on `run` (as `reader` holds its entities) at `createdAt`, and the
 * statements that write it with its outbox; undefined when the draft refuses it or the
 * statements are too large to inline (the long way then answers).
 */
function draftWrites(
  db: Database,
  runId: string,
  run: Run | undefined,
  reader: RunEntityReader,
  requests: readonly CreateEventRequest[],
  params: CreateEventParams | undefined,
  createdAt: number,
  idempotencyRetentionMs: number,
): { draft: RunDraft; results: CreateEventResult[]; statements: OutboxStatement[] } | undefined {
  const draft = new RunDraft(runId, run, reader);
  let results: CreateEventResult[];
  try {
    results = requests.map((request) => draft.apply(request, nextCommitStamp(draft.run, createdAt)));
  } catch {
    return undefined;
  }
  const statements = [...writeStatements(db, draft, reader), ...outboxStatements(db, params, idempotencyRetentionMs)];
  return inlinedSize(statements) > maxInlineBytes ? undefined : { draft, results, statements };
}

/** Fails the transaction unless `createdAt` is within the database clock's window. */
function clockGuard(db: Database, createdAt: number, maxFutureCreatedAtMs: number): string {
  const { nowMs } = db.tables;
  const upperBound = Number.isFinite(maxFutureCreatedAtMs) ? ` AND $1::bigint <= ${nowMs} + $2::bigint` : '';
  return inlineParameters(`SELECT 1 / (CASE WHEN $1::bigint >= ${nowMs}${upperBound} THEN 1 ELSE 0 END)`, [
    createdAt,
    Number.isFinite(maxFutureCreatedAtMs) ? maxFutureCreatedAtMs : 0,
  ]);
}

/**
 * BEGIN, the guards, the writes and COMMIT in one round trip; the writes' results, one per
 * statement, or undefined when a guard or key refused it.
 */
async function commitGuarded(
  db: Database,
  guards: string[],
  statements: Statement[],
): Promise<QueryResult[] | undefined> {
  return db.transaction(
    async (client) => {
      try {
        const answered = (await client.query(
          `${beginReadCommitted};\n${guards.join(';\n')};\n${inline(statements)};\nCOMMIT`,
        )) as unknown as QueryResult[];
        return answered.slice(1 + guards.length, 1 + guards.length + statements.length);
      } catch (error) {
        const code = errorCode(error);
        if (code !== divisionByZero && code !== uniqueViolation && code !== deadlockDetected) throw error;
        await client.query('ROLLBACK');
        return undefined;
      }
    },
    { selfDelimited: true },
  );
}
