import {
  type CreateEventParams,
  type CreateEventRequest,
  type CreateEventResult,
  nextCommitStamp,
  type Run,
  RunDraft,
  type RunEntityReader,
} from '@cairn/core/world';
import type { Database } from './database.js';
import type { AppendSettings } from './postgres-append.js';
import { AppendGroups } from './postgres-append-groups.js';
import { type BatchCall, type BatchGuards, batchCall, reportClaims } from './postgres-batch.js';
import { type CachedRun, cachedReader, type RunCache } from './run-cache.js';

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
 * another run is the live-token index's to refuse, and a delivery id the run already holds
 * the `hook_deliveries` key's: the cache keeps neither.)
 */
const hookEventTypes = new Set([
  'run_completed',
  'run_failed',
  'run_cancelled',
  'hook_created',
  'hook_received',
  'hook_disposed',
]);

/**
 * The append in one round trip, for the common case: a batch with a proposed `createdAt`
 * to a run this World appended to last. The draft is built from the cached run before the
 * database is reached, and one prepared call of the schema's `append_batch` checks two
 * guards and writes; being a single statement, it is its own transaction. The guards fail
 * it (raising division_by_zero) unless the run's row, locked, still has the cached tail,
 * and unless the proposed stamp is within the database clock's window, exactly the checks
 * the long way makes after its reads. A key that refuses an insert (an entity or a
 * delivery id the cache did not know) fails it too. Any of these rolls back, and the caller
 * goes the long way, which reads the truth and answers as it always did (including with
 * the right error).
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
  if (!fitsCachedRun(known, requests, params?.lastKnownEventId, createdAt)) return undefined;
  const drafted = draftBatch(db, runId, known.run, cachedReader(known), requests, params, idempotencyRetentionMs, {
    expectedLastSeq: known.run.lastSeq,
    createdAt,
    maxFutureCreatedAtMs,
  });
  if (drafted === undefined) return undefined;
  const { draft, results, call } = drafted;
  const held = await groupsOf(db).send(call);
  if (held === undefined) {
    cache.forget(runId);
    return undefined;
  }
  cache.remember(draft, { steps: [], waits: [], hooks: [] }, known);
  return reportClaims(call, held, results);
}

/**
 * Whether an append can be written against the cached run: events the cache knows enough
 * for, and a fence or a stamp the cached run does not already refuse (the long way reports
 * those with the truth). A function of its own, without closures, so the hot async path
 * around it stays small for the optimising compiler.
 */
function fitsCachedRun(
  known: CachedRun,
  requests: readonly CreateEventRequest[],
  lastKnownEventId: string | undefined,
  createdAt: number,
): boolean {
  for (const { eventType } of requests) {
    if (!warmEventTypes.has(eventType) && !(known.hooksComplete && hookEventTypes.has(eventType))) return false;
  }
  if (lastKnownEventId !== undefined && lastKnownEventId !== known.run.lastEventId) return false;
  return createdAt >= known.run.updatedAt;
}

/** What a run that does not exist yet holds: nothing. */
const nothingYet: RunEntityReader = {
  step: () => undefined,
  wait: () => undefined,
  hook: () => undefined,
  tokenHolder: () => undefined,
  deliveryHolder: () => undefined,
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
  const drafted = draftBatch(db, runId, undefined, nothingYet, requests, params, idempotencyRetentionMs, {
    expectedLastSeq: null,
    createdAt,
    maxFutureCreatedAtMs,
  });
  if (drafted === undefined) return undefined;
  const { draft, results, call } = drafted;
  const held = await groupsOf(db).send(call);
  if (held === undefined) return undefined;
  cache.remember(draft, { steps: [], waits: [], hooks: [] });
  return reportClaims(call, held, results);
}

/**
 * The batch drafted on `run` (as `reader` holds its entities) at `guards.createdAt`, and
 * its call; undefined when the draft refuses it (the long way then answers).
 */
function draftBatch(
  db: Database,
  runId: string,
  run: Run | undefined,
  reader: RunEntityReader,
  requests: readonly CreateEventRequest[],
  params: CreateEventParams | undefined,
  idempotencyRetentionMs: number,
  guards: BatchGuards & { createdAt: number },
): { draft: RunDraft; results: CreateEventResult[]; call: BatchCall } | undefined {
  const draft = new RunDraft(runId, run, reader);
  let results: CreateEventResult[];
  try {
    results = requests.map((request) => draft.apply(request, nextCommitStamp(draft.run, guards.createdAt)));
  } catch {
    return undefined;
  }
  return { draft, results, call: batchCall(db, draft, reader, params, idempotencyRetentionMs, guards) };
}

/** Each World's sender of one-round-trip appends. */
const groups = new WeakMap<Database, AppendGroups>();

/**
 * `maxAppendStatements` connections (2 by default) send appends at once; more appends than
 * that wait and go together (postgres-append-groups.ts). Never more than half the pool: the
 * other half stays for the long way, reads and the queue.
 */
function groupsOf(db: Database): AppendGroups {
  let sender = groups.get(db);
  if (sender === undefined) {
    const poolSize = (db.pool as { options?: { max?: number } }).options?.max ?? 10;
    sender = new AppendGroups(db, Math.max(1, Math.min(db.maxAppendStatements, Math.ceil(poolSize / 2))));
    groups.set(db, sender);
  }
  return sender;
}
