import {
  type CreateEventParams,
  type CreateEventRequest,
  type CreateEventResult,
  FenceConflictError,
  formatEventId,
  type Hook,
  nextCommitStamp,
  type Run,
  RunDraft,
  type RunEntityReader,
  RunNotFoundError,
  type Step,
  type Wait,
} from '@cairn/core/world';
import type { PoolClient, QueryResult } from 'pg';
import { beginReadCommitted, type Database, errorCode, isUniqueViolation, toMs } from './database.js';
import { type InlineValue, inlineParameters } from './inline-sql.js';
import { batchCall, reportClaims } from './postgres-batch.js';
import type { RunCache } from './run-cache.js';

const terminalEventTypes = new Set(['run_completed', 'run_failed', 'run_cancelled']);

interface Prefetched {
  reader: RunEntityReader;
  /** The steps, waits and hooks read, for the run cache. */
  steps: Step[];
  waits: Wait[];
  hooks: Hook[];
  now: number;
  /** seq of the last event with createdAt < params.asOfTimestamp, when that was asked for. */
  asOfSeq: number | null;
}

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
      // A deadlock (two batches claiming each other's tokens) is retried the same way.
      const retry = isUniqueViolation(error, 'hooks_live_token') || errorCode(error) === '40P01';
      if (retry && attempt < 5) continue;
      throw error;
    }
  }
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
    text: `SELECT body FROM ${runs} WHERE run_id = $1 FOR NO KEY UPDATE`,
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
  const opened = (await client.query(
    `${beginReadCommitted};\n${inline([...lockCreation, lockRun, prefetchQuery])}`,
  )) as unknown as QueryResult[];
  const reads = opened.slice(1 + lockCreation.length);
  const run = (reads[0]!.rows[0] as { body: Run } | undefined)?.body;
  const fetched = readPrefetch(reads[1]!.rows as PrefetchRow[]);
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
  let answer: QueryResult;
  if (inlinedSize(call.values) <= maxInlineBytes) {
    [answer] = (await client.query(`${inlineParameters(call.text, call.values)};\nCOMMIT`)) as unknown as [QueryResult];
  } else {
    // Large values are bound as parameters instead: quoting them into the text is work for
    // the event loop that grows with every quote and backslash (seconds for megabytes), while
    // the row lock is held. One more round trip costs nothing next to the transfer.
    answer = await client.query(db.statement(call.text, call.values));
    await client.query('COMMIT');
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

/**
 * The clock is read here, under the lock, so createdAt never precedes the run's previous
 * commit. It is still read a few round trips before this transaction commits: an
 * asOfTimestamp fence at an instant inside that window counts the event although a reader
 * at that instant could not see it yet. Fence on lastKnownEventId where that matters.
 *
 * Reads, in one round trip after the lock, everything the entity rules will ask about:
 * the steps, hooks and waits the batch names, the run's active hooks when the batch ends
 * the run, the live holders of any token it claims, the database clock, and the
 * asOfTimestamp tail. A separate statement from the lock on purpose: in READ COMMITTED a
 * statement that waited for a lock still reads with its old snapshot, a new one does not.
 */
function prefetchStatement(
  db: Database,
  runId: string,
  requests: readonly CreateEventRequest[],
  params: CreateEventParams | undefined,
): Statement {
  const { steps, hooks, waits, events, nowMs } = db.tables;
  const ids = { step: new Set<string>(), hook: new Set<string>(), wait: new Set<string>() };
  const tokens = new Set<string>();
  let endsRun = false;
  for (const request of requests) {
    if (terminalEventTypes.has(request.eventType)) endsRun = true;
    if (request.eventType === 'hook_created') tokens.add(request.eventData.token);
    const kind = request.eventType.slice(0, request.eventType.indexOf('_'));
    if (request.correlationId !== undefined && kind in ids) ids[kind as keyof typeof ids].add(request.correlationId);
  }
  const asOf = params?.lastKnownEventId === undefined ? (params?.asOfTimestamp ?? null) : null;
  // Only the parts this batch needs: the statement is planned afresh on every append, and
  // a step's batch, the common case, needs just its step and the clock.
  const parts: string[] = [];
  if (ids.step.size > 0)
    parts.push(`SELECT 'step' AS kind, body FROM ${steps} WHERE run_id = $1 AND step_id = ANY($2::text[])`);
  if (ids.hook.size > 0 || endsRun) {
    parts.push(
      `SELECT 'hook' AS kind, body FROM ${hooks} WHERE run_id = $1 AND (hook_id = ANY($3::text[]) OR ($4::boolean AND active))`,
    );
  }
  if (ids.wait.size > 0)
    parts.push(`SELECT 'wait' AS kind, body FROM ${waits} WHERE run_id = $1 AND wait_id = ANY($5::text[])`);
  if (tokens.size > 0) {
    parts.push(`SELECT 'holder' AS kind, json_build_object('runId', run_id, 'hookId', hook_id, 'token', token) AS body
       FROM ${hooks} WHERE active AND token = ANY($6::text[])`);
  }
  parts.push(
    asOf === null
      ? `SELECT 'clock' AS kind, json_build_object('now', ${nowMs}, 'asOfSeq', NULL) AS body`
      : `SELECT 'clock' AS kind, json_build_object('now', ${nowMs}, 'asOfSeq', (
           SELECT seq FROM ${events} WHERE run_id = $1 AND created_at < $7::float8
           ORDER BY created_at DESC, seq DESC LIMIT 1)) AS body`,
  );
  return {
    text: parts.join('\n     UNION ALL\n     '),
    values: [runId, [...ids.step], [...ids.hook], endsRun, [...ids.wait], [...tokens], asOf],
  };
}

type PrefetchRow = { kind: string; body: unknown };

function readPrefetch(rows: readonly PrefetchRow[]): Prefetched {
  const stepMap = new Map<string, Step>();
  const hookMap = new Map<string, Hook>();
  const waitMap = new Map<string, Wait>();
  const holders = new Map<string, { runId: string; hookId: string }>();
  let clock = { now: 0, asOfSeq: null as number | null };
  for (const { kind, body } of rows) {
    if (kind === 'step') stepMap.set((body as Step).stepId, body as Step);
    else if (kind === 'hook') hookMap.set((body as Hook).hookId, body as Hook);
    else if (kind === 'wait') waitMap.set((body as Wait).waitId, body as Wait);
    else if (kind === 'holder') {
      const holder = body as { runId: string; hookId: string; token: string };
      holders.set(holder.token, { runId: holder.runId, hookId: holder.hookId });
    } else clock = body as typeof clock;
  }
  return {
    steps: [...stepMap.values()],
    waits: [...waitMap.values()],
    hooks: [...hookMap.values()],
    reader: {
      step: (stepId) => stepMap.get(stepId),
      hook: (hookId) => hookMap.get(hookId),
      wait: (waitId) => waitMap.get(waitId),
      tokenHolder: (token) => holders.get(token),
      // Complete whenever the draft asks: it only does so for a terminal event, and then
      // every active hook of the run was fetched.
      activeHooks: () => [...hookMap.values()].filter((hook) => hook.status === 'active'),
    },
    now: toMs(clock.now),
    asOfSeq: clock.asOfSeq === null ? null : Number(clock.asOfSeq),
  };
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
