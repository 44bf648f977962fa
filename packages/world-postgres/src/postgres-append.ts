import {
  type CreateEventParams,
  type CreateEventRequest,
  type CreateEventResult,
  FenceConflictError,
  formatEventId,
  InvalidInputError,
  nextCommitStamp,
  type Run,
  RunDraft,
  RunNotFoundError,
} from '@cairn/core/world';
import type { PoolClient, QueryResult } from 'pg';
import { beginReadCommitted, type Database, errorCode, isUniqueViolation } from './database.js';
import { type InlineValue, inlineParameters } from './inline-sql.js';
import { batchCall, reportClaims } from './postgres-batch.js';
import { type PrefetchRow, prefetchStatement, readPrefetch } from './postgres-prefetch.js';
import type { RunCache } from './run-cache.js';
import { sendStatement } from './send-statement.js';

/**
 * Fenced append: ONE transaction does the fence check, seq allocation, the
 * event inserts and the entity updates, for a single event or a whole batch.
 *
 * Appends to one run are serialised by a row lock on the run (SELECT ... FOR NO KEY
 * UPDATE), taken before the tail is read and held until commit. Every appender therefore
 * sees the tail its predecessor committed, allocates last_seq + 1 (dense: no sequence, so
 * no gaps on rollback), and of N writers holding the same tail exactly one passes the
 * fence; the others find a newer tail and get FenceConflictError with it. Not SERIALIZABLE
 * with retries: under contention that aborts everyone but one and makes them redo the
 * whole transaction, and a serialization failure carries no tail to report. The lock
 * queues writers instead, and losing a fence is decided, not retried. NO KEY UPDATE (not
 * FOR UPDATE) so stream writes, whose foreign key takes KEY SHARE on the run, are not blocked.
 */
export async function appendEvents(
  db: Database,
  cache: RunCache,
  runId: string,
  requests: readonly CreateEventRequest[],
  params: CreateEventParams | undefined,
  maxFutureCreatedAtMs: number,
  idempotencyRetentionMs: number,
): Promise<CreateEventResult[]> {
  const settings = { maxFutureCreatedAtMs, idempotencyRetentionMs };
  for (let attempt = 1; ; attempt++) {
    try {
      return await db.transaction((client) => appendOnce(db, cache, client, runId, requests, params, settings), {
        selfDelimited: true,
      });
    } catch (error) {
      // Another run claimed one of our tokens between our prefetch and our insert, and the
      // partial unique index stopped us. Nothing was written; run again so the draft sees
      // the holder and throws HookTokenConflictError naming it (or passes, if it is gone).
      // A deadlock (two batches claiming each other's tokens) is retried the same way. So is
      // a delivery id the run's key already holds although the prefetch did not see it: every
      // append of a run records its ids under the run's lock, so this is only a safeguard,
      // and the next prefetch finds the holder and the draft throws DuplicateDeliveryError.
      const retry =
        isUniqueViolation(error, 'hooks_live_token') ||
        isUniqueViolation(error, 'hook_deliveries_pkey') ||
        errorCode(error) === '40P01';
      if (retry && attempt < 5) continue;
      if (isUniqueViolation(error, 'queue_messages_pkey')) throw takenMessageId(params, error);
      throw error;
    }
  }
}

/** A claim's chosen message id that the queue already holds: the caller's to change. */
function takenMessageId(params: CreateEventParams | undefined, error: unknown): InvalidInputError {
  const detail = String((error as { detail?: unknown }).detail ?? '');
  const enqueue = params?.enqueue ?? [];
  const index = enqueue.findIndex(
    (message) => message.claim?.messageId !== undefined && detail.includes(`(${message.claim.messageId})`),
  );
  return new InvalidInputError({
    field: index < 0 ? 'params.enqueue' : `params.enqueue.${index}.claim.messageId`,
    value: index < 0 ? detail : enqueue[index]!.claim!.messageId,
    reason: 'is already the id of a message in the queue',
  });
}

export interface AppendSettings {
  maxFutureCreatedAtMs: number;
  idempotencyRetentionMs: number;
}

export interface Statement {
  text: string;
  values: InlineValue[];
}

export const inline = (statements: readonly Statement[]) =>
  statements.map((statement) => inlineParameters(statement.text, statement.values)).join(';\n');

/**
 * Two round trips in the common case: BEGIN, the row lock and the prefetch go as one
 * multi-statement query, and the writes, the outbox and COMMIT as another. They are still
 * separate statements, so the prefetch takes its snapshot after the lock was granted.
 */
async function appendOnce(
  db: Database,
  cache: RunCache,
  client: PoolClient,
  runId: string,
  requests: readonly CreateEventRequest[],
  params: CreateEventParams | undefined,
  { maxFutureCreatedAtMs, idempotencyRetentionMs }: AppendSettings,
): Promise<CreateEventResult[]> {
  const { runs } = db.tables;
  const lockRun: Statement = {
    text: `SELECT 1 FROM ${runs} WHERE run_id = $1 FOR NO KEY UPDATE`,
    values: [runId],
  };
  const prefetchQuery = prefetchStatement(db, runId, requests, params);
  // Creators of one client-chosen id serialise on an advisory lock (there is no row to lock
  // yet), taken before the row lock and the prefetch, which therefore see a run that
  // another creator committed meanwhile, so the draft refuses the second as a duplicate
  // rather than a unique violation surfacing from an insert. It rides in the same round trip.
  const creates = requests[0]!.eventType === 'run_created';
  const lockCreation: Statement[] = creates
    ? [{ text: 'SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', values: [`cairn.run:${db.schema}:${runId}`] }]
    : [];
  const opened = (await sendStatement(
    client,
    `${beginReadCommitted};\n${inline([...lockCreation, lockRun, prefetchQuery])}`,
  )) as unknown as QueryResult[];
  const reads = opened.slice(1 + lockCreation.length);
  const fetched = readPrefetch(reads[1]!.rows as PrefetchRow[]);
  const run = fetched.run;
  if (!run && !creates) throw new RunNotFoundError({ runId });
  if (run) checkFence(run, params, fetched.asOfSeq);
  let now = fetched.now;
  if (params?.createdAt !== undefined) {
    checkProposedTime(runId, run, params.createdAt, now, maxFutureCreatedAtMs);
    now = params.createdAt;
  }
  const draft = new RunDraft(runId, run, fetched.reader);
  const results = requests.map((request) => draft.apply(request, nextCommitStamp(draft.run, now)));
  // The run's row lock is held and the fence and the clock were checked above, so the
  // call's own guards are skipped.
  const call = batchCall(db, draft, fetched.reader, params, idempotencyRetentionMs, {
    expectedLastSeq: null,
    createdAt: null,
    maxFutureCreatedAtMs,
  });
  // The long way is the rare one (a run this World did not write last, a refused warm
  // append); it notifies inside its transaction, as every append once did.
  call.notifyInside();
  let answer: QueryResult;
  if (inlinedSize(call.values) <= maxInlineBytes) {
    [answer] = (await sendStatement(client, `${inlineParameters(call.text, call.values)};\nCOMMIT`)) as unknown as [
      QueryResult,
    ];
  } else {
    // Large values are bound as parameters instead: quoting them into the text is work for
    // the event loop that grows with every quote and backslash (seconds for megabytes), while
    // the row lock is held. One more round trip costs nothing next to the transfer.
    answer = await sendStatement(client, db.statement(call.text, call.values));
    await sendStatement(client, 'COMMIT');
  }
  // What was cached stays valid only if it was cached at the tail this append started from.
  const known = cache.get(runId);
  cache.remember(draft, fetched, known && run && known.run.lastSeq === run.lastSeq ? known : undefined);
  return reportClaims(call, (answer.rows[0] as { claims: boolean[] | null }).claims, results);
}

/**
 * Past this many characters of values the writes are sent with bound parameters rather
 * than inlined. Steps with small inputs and outputs, the common case, stay at two round trips.
 */
const maxInlineBytes = 64 * 1024;

function inlinedSize(values: readonly InlineValue[]): number {
  let size = 0;
  for (const value of values) {
    if (typeof value === 'string') size += value.length;
    else if (Array.isArray(value)) for (const element of value) if (typeof element === 'string') size += element.length;
  }
  return size;
}

/** The same rule as world-local: the named (or resolved) tail must be the run's tail. */
function checkFence(run: Run, params: CreateEventParams | undefined, asOfSeq: number | null): void {
  let expected: string | null;
  if (params?.lastKnownEventId !== undefined) expected = params.lastKnownEventId;
  else if (params?.asOfTimestamp !== undefined) expected = asOfSeq === null ? null : formatEventId(asOfSeq);
  else return;
  if (expected !== run.lastEventId) {
    throw new FenceConflictError({
      runId: run.runId,
      expectedEventId: expected,
      currentTail: { eventId: run.lastEventId, seq: run.lastSeq },
    });
  }
}

/** See `CreateEventParams.createdAt`: not before the database clock or the run's last event, and not too far ahead. */
export function checkProposedTime(
  runId: string,
  run: Run | undefined,
  createdAt: number,
  now: number,
  maxAheadMs: number,
) {
  if (createdAt >= now && createdAt <= now + maxAheadMs && createdAt >= (run?.updatedAt ?? 0)) return;
  throw new FenceConflictError({
    runId,
    expectedEventId: run?.lastEventId ?? null,
    currentTail: { eventId: run?.lastEventId ?? '(none)', seq: run?.lastSeq ?? 0 },
    reason: `proposed createdAt ${createdAt} is ${createdAt < now ? `${now - createdAt} ms in the past` : 'out of range'}`,
  });
}
