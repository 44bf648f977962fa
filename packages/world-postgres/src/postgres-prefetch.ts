import type { CreateEventParams, CreateEventRequest, Hook, Run, RunEntityReader, Step, Wait } from '@cairn/core/world';
import { type Database, toMs } from './database.js';
import type { InlineValue } from './inline-sql.js';
import {
  composeView,
  hookPayloads,
  type PayloadReference,
  payloadSql,
  payloadWidth,
  runPayloads,
  type StoredRow,
  stepPayloads,
} from './stored-views.js';

const terminalEventTypes = new Set(['run_completed', 'run_failed', 'run_cancelled']);

/** What the long way's append read after taking the run's row lock. */
export interface Prefetched {
  /** The run as committed, or undefined when it does not exist. */
  run: Run | undefined;
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
 * The clock is read here, under the lock, so createdAt never precedes the run's previous
 * commit. It is still read a few round trips before this transaction commits: an
 * asOfTimestamp fence at an instant inside that window counts the event although a reader
 * at that instant could not see it yet. Fence on lastKnownEventId where that matters.
 *
 * Reads, in one round trip after the lock, everything the entity rules will ask about:
 * the run, the steps, hooks and waits the batch names, the run's active hooks when the
 * batch ends the run, the live holders of any token it claims, the hooks of the run that
 * received any delivery id it carries, the database clock, and the asOfTimestamp tail. A
 * separate statement from the lock on purpose: in READ COMMITTED a statement that waited
 * for a lock still reads with its old snapshot, a new one does not.
 * (The run is read here too rather than by the locking statement, whose rows would be
 * rechecked after the wait but not the events joined to them.)
 */
export function prefetchStatement(
  db: Database,
  runId: string,
  requests: readonly CreateEventRequest[],
  params: CreateEventParams | undefined,
): { text: string; values: InlineValue[] } {
  const { runs, steps, hooks, waits, events, nowMs, deliveries: deliveryTable } = db.tables;
  const ids = { step: new Set<string>(), hook: new Set<string>(), wait: new Set<string>() };
  const tokens = new Set<string>();
  const deliveries = new Set<string>();
  let endsRun = false;
  for (const request of requests) {
    if (terminalEventTypes.has(request.eventType)) endsRun = true;
    if (request.eventType === 'hook_created') tokens.add(request.eventData.token);
    if (request.eventType === 'hook_received' && request.eventData?.deliveryId !== undefined) {
      deliveries.add(request.eventData.deliveryId);
    }
    const kind = request.eventType.slice(0, request.eventType.indexOf('_'));
    if (request.correlationId !== undefined && kind in ids) ids[kind as keyof typeof ids].add(request.correlationId);
  }
  const asOf = params?.lastKnownEventId === undefined ? (params?.asOfTimestamp ?? null) : null;
  /** A part of the union: rows of `table` whole, their payloads joined (every part has as many columns). */
  const whole = (kind: string, table: string, references: readonly PayloadReference[], where: string) => {
    const { columns, joins } = payloadSql(events, 'x', references, payloadWidth);
    return `SELECT '${kind}' AS kind, x.body${columns} FROM ${table} x ${joins} WHERE ${where}`;
  };
  const nothing = payloadSql(events, 'x', [], payloadWidth).columns;
  // Only the parts this batch needs: the statement is planned afresh on every append, and
  // a step's batch, the common case, needs just its run, its step and the clock.
  const parts = [whole('run', runs, runPayloads, 'x.run_id = $1')];
  if (ids.step.size > 0)
    parts.push(whole('step', steps, stepPayloads, 'x.run_id = $1 AND x.step_id = ANY($2::text[])'));
  if (ids.hook.size > 0 || endsRun) {
    parts.push(
      whole(
        'hook',
        hooks,
        hookPayloads,
        'x.run_id = $1 AND (x.hook_id = ANY($3::text[]) OR ($4::boolean AND x.active))',
      ),
    );
  }
  if (ids.wait.size > 0) parts.push(whole('wait', waits, [], 'x.run_id = $1 AND x.wait_id = ANY($5::text[])'));
  if (tokens.size > 0) {
    parts.push(`SELECT 'holder' AS kind, json_build_object('runId', run_id, 'hookId', hook_id, 'token', token) AS body${nothing}
       FROM ${hooks} WHERE active AND token = ANY($6::text[])`);
  }
  // The run's holders of the batch's delivery ids: the draft refuses a repeat by name, where
  // the table's key would only break the insert.
  if (deliveries.size > 0) {
    parts.push(`SELECT 'delivery' AS kind, json_build_object('deliveryId', delivery_id, 'hookId', hook_id) AS body${nothing}
       FROM ${deliveryTable} WHERE run_id = $1 AND delivery_id = ANY($8::text[])`);
  }
  parts.push(
    asOf === null
      ? `SELECT 'clock' AS kind, json_build_object('now', ${nowMs}, 'asOfSeq', NULL) AS body${nothing}`
      : `SELECT 'clock' AS kind, json_build_object('now', ${nowMs}, 'asOfSeq', (${asOfSeqQuery(runs, events, '$1', '$7::float8')})) AS body${nothing}`,
  );
  return {
    text: parts.join('\n     UNION ALL\n     '),
    values: [runId, [...ids.step], [...ids.hook], endsRun, [...ids.wait], [...tokens], asOf, [...deliveries]],
  };
}

/** A row of the prefetch: its kind, and a body with the payloads its entity's row leaves to events. */
export type PrefetchRow = StoredRow<unknown> & { kind: string };

export function readPrefetch(rows: readonly PrefetchRow[]): Prefetched {
  let run: Run | undefined;
  const stepMap = new Map<string, Step>();
  const hookMap = new Map<string, Hook>();
  const waitMap = new Map<string, Wait>();
  const holders = new Map<string, { runId: string; hookId: string }>();
  const deliveries = new Map<string, string>();
  let clock = { now: 0, asOfSeq: null as number | null };
  for (const row of rows) {
    const { kind, body } = row;
    if (kind === 'run') run = composeView(row as StoredRow<Run>, runPayloads);
    else if (kind === 'step') {
      const step = composeView(row as StoredRow<Step>, stepPayloads);
      stepMap.set(step.stepId, step);
    } else if (kind === 'hook') {
      const hook = composeView(row as StoredRow<Hook>, hookPayloads);
      hookMap.set(hook.hookId, hook);
    } else if (kind === 'wait') waitMap.set((body as Wait).waitId, body as Wait);
    else if (kind === 'holder') {
      const holder = body as { runId: string; hookId: string; token: string };
      holders.set(holder.token, { runId: holder.runId, hookId: holder.hookId });
    } else if (kind === 'delivery') {
      const delivery = body as { deliveryId: string; hookId: string };
      deliveries.set(delivery.deliveryId, delivery.hookId);
    } else clock = body as typeof clock;
  }
  return {
    run,
    steps: [...stepMap.values()],
    waits: [...waitMap.values()],
    hooks: [...hookMap.values()],
    reader: {
      step: (stepId) => stepMap.get(stepId),
      hook: (hookId) => hookMap.get(hookId),
      wait: (waitId) => waitMap.get(waitId),
      tokenHolder: (token) => holders.get(token),
      deliveryHolder: (deliveryId) => deliveries.get(deliveryId),
      // Complete whenever the draft asks: it only does so for a terminal event, and then
      // every active hook of the run was fetched.
      activeHooks: () => [...hookMap.values()].filter((hook) => hook.status === 'active'),
    },
    now: toMs(clock.now),
    asOfSeq: clock.asOfSeq === null ? null : Number(clock.asOfSeq),
  };
}

/**
 * The seq of the run's last event with `created_at` before `instant`, or NULL when there is
 * none, as a scalar query. Events are dense (seqs 1 to the run's `last_seq`) and their
 * `created_at` never decreases, so "older than the instant" holds for a prefix of the seqs:
 * the query bisects it, one primary-key lookup per halving, instead of keeping an index on
 * `created_at` that every event would pay for. Each row of `probe` narrows [low, high],
 * where `low` is a seq known to be older (0 for none) and `high` bounds the answer; the row
 * where they meet is the answer. Were an event ever missing, no row would meet and the
 * answer would be NULL, which refuses the fence rather than passing it.
 */
export function asOfSeqQuery(runs: string, events: string, runId: string, instant: string): string {
  const middle = '(probe.low + probe.high + 1) / 2';
  return `WITH RECURSIVE probe(low, high) AS (
             SELECT 0, coalesce((SELECT last_seq FROM ${runs} WHERE run_id = ${runId}), 0)
             UNION ALL
             SELECT CASE WHEN e.created_at < ${instant} THEN ${middle} ELSE probe.low END,
                    CASE WHEN e.created_at < ${instant} THEN probe.high ELSE ${middle} - 1 END
             FROM probe JOIN ${events} e ON e.run_id = ${runId} AND e.seq = ${middle}
             WHERE probe.low < probe.high)
           SELECT nullif(low, 0) FROM probe WHERE low = high`;
}
