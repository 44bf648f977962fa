import {
  type CreateEventParams,
  type CreateEventResult,
  isTerminalRunStatus,
  type QueueClaim,
  type RunDraft,
  type RunEntityReader,
  ulid,
} from '@cairn/core/world';
import type { Database } from './database.js';
import type { InlineValue } from './inline-sql.js';
import { eventNotification, queueKey, streamKey } from './notifications.js';
import { formatTail } from './run-tails.js';
import { hookRow, lastSeqs, runRow, stepRow } from './stored-views.js';

/** How long a lapsed claim waits before its redelivery, on top of its lease: a consumer's first backoff step. */
const lapsedClaimBackoffMs = 100;

/** What `append_batch` checks before writing; see the function (migrations 3 and 4). */
export interface BatchGuards {
  /** The tail the run must still have, checked under its row lock; null: no fence. */
  expectedLastSeq: number | null;
  /** A proposed stamp to check against the clock's window; null: no check. */
  createdAt: number | null;
  maxFutureCreatedAtMs: number;
}

/** One call of `append_batch`, and the claim each outbox message would be if it holds. */
export interface BatchCall {
  text: string;
  values: InlineValue[];
  /** Per outbox message, in order: its claim when it asked for one. */
  claims: (QueueClaim | undefined)[];
  /**
   * The call's notifications (the run's new tail, a wake per queued message no claim
   * holds), left out of `values`: a statement that notifies holds every other commit back
   * until its own is flushed (notification-publisher.ts), so by default they are published
   * after the commit.
   */
  notifications: string[];
  /**
   * Puts the notifications back into the statement, for a call that goes alone while no
   * other append of this World is out: nothing waits on its commit, and a statement of its
   * own to notify would cost more than it saves. Sets `notifiesItself`.
   */
  notifyInside(): void;
  notifiesItself: boolean;
}

/** Rows' JSON bodies as one JSON array: one string the driver passes through untouched. */
const jsonArray = (rows: readonly unknown[]) => JSON.stringify(rows);

/** Entities the run had before this batch, then those it creates. */
function splitByExistence<Entity>(
  entities: Iterable<Entity>,
  stored: (entity: Entity) => unknown,
): [Entity[], Entity[]] {
  const existing: Entity[] = [];
  const created: Entity[] = [];
  for (const entity of entities) (stored(entity) === undefined ? created : existing).push(entity);
  return [existing, created];
}

/** Each World's call text, built once, as it goes with every append. */
const callTexts = new WeakMap<Database, string>();

/** The call's text, with one placeholder per value (the function's 62 parameters, in order). */
function callText(db: Database, count: number): string {
  const known = callTexts.get(db);
  if (known?.endsWith(`$${count}) AS claims`)) return known;
  const placeholders = Array.from({ length: count }, (_, index) => `$${index + 1}`).join(', ');
  const text = `SELECT ${db.tables.schema}.append_batch(${placeholders}) AS claims`;
  callTexts.set(db, text);
  return text;
}

/**
 * The draft's writes, the outbox and the acknowledgements of `params` as one call of the
 * schema's `append_batch`, which also checks `guards`. `base` holds the entities as they
 * were before the batch, to tell new rows from updated ones.
 */
export function batchCall(
  db: Database,
  draft: RunDraft,
  base: RunEntityReader,
  params: CreateEventParams | undefined,
  idempotencyRetentionMs: number,
  guards: BatchGuards,
): BatchCall {
  const run = draft.run!;
  const seqs = lastSeqs(draft.events);
  const seqOf = (type: string, id: string) => seqs.get(`${type}:${id}`) ?? 0;
  const [knownHooks, newHooks] = splitByExistence(draft.hooks.values(), (hook) => base.hook(hook.hookId));
  // Sorted by token: batches that claim overlapping tokens take the index entries in one order.
  newHooks.sort((x, y) => (x.token < y.token ? -1 : x.token > y.token ? 1 : 0));
  // New entities are inserted and known ones updated: an upsert would also lock the
  // existing row and confirm its speculative insert, two more WAL records per step.
  const [knownSteps, newSteps] = splitByExistence(draft.steps.values(), (step) => base.step(step.stepId));
  const [knownWaits, newWaits] = splitByExistence(draft.waits.values(), (wait) => base.wait(wait.waitId));
  const messages = params?.enqueue ?? [];
  const claims = messages.map(({ topic, options, claim }): QueueClaim | undefined =>
    claim === undefined
      ? undefined
      : {
          topic,
          messageId: claim.messageId ?? `msg_${ulid()}`,
          token: claim.token ?? `claim_${ulid()}`,
          ...(options?.groupKey === undefined ? {} : { groupKey: options.groupKey }),
        },
  );
  const acknowledged = params?.acknowledge ?? [];
  // Rows keep only what is not in an event; see stored-views.ts.
  const storedRun = runRow(run, seqs);
  const newStepRows = newSteps.map((step) => stepRow(step, seqs));
  const knownStepRows = knownSteps.map((step) => stepRow(step, seqs));
  const newHookRows = newHooks.map(hookRow);
  const knownHookRows = knownHooks.map(hookRow);
  const values: InlineValue[] = [
    guards.expectedLastSeq,
    guards.createdAt,
    Number.isFinite(guards.maxFutureCreatedAtMs) ? guards.maxFutureCreatedAtMs : null,
    db.tables.injectedNow(),
    draft.runId,
    draft.events.map((event) => event.seq),
    draft.events.map((event) => event.createdAt),
    jsonArray(draft.events),
    run.workflowName,
    run.status,
    run.createdAt,
    run.updatedAt,
    run.lastSeq,
    storedRun.body,
    newSteps.map((step) => step.stepId),
    newSteps.map((step) => seqOf('step_created', step.stepId)),
    // A new step's error is from this batch; were it not, the row would hold it itself.
    jsonArray(newStepRows.map((row) => row.bodyWithError ?? row.body)),
    knownSteps.map((step) => step.stepId),
    jsonArray(knownStepRows.map((row) => row.body)),
    newWaits.map((wait) => wait.waitId),
    newWaits.map((wait) => seqOf('wait_created', wait.waitId)),
    jsonArray(newWaits),
    knownWaits.map((wait) => wait.waitId),
    jsonArray(knownWaits),
    db.channel,
  ];
  // Null unless the call notifies inside (see BatchCall): the statement then sends only what
  // it alone can know of, a stream it closes and a group it frees for a waiting message.
  const eventNotificationAt = values.length;
  values.push(
    null,
    knownHooks.map((hook) => hook.hookId),
    knownHooks.map((hook) => hook.status === 'active'),
    jsonArray(knownHookRows.map((row) => row.body)),
    newHooks.map((hook) => hook.hookId),
    newHooks.map((hook) => seqOf('hook_created', hook.hookId)),
    newHooks.map((hook) => hook.token),
    newHooks.map((hook) => hook.status === 'active'),
    jsonArray(newHookRows.map((row) => row.body)),
    // The append that ends the run closes its open streams and wakes their readers (the
    // capability `streams.closedWithRun`). A batch to an ended run is refused by the draft,
    // so an ended run here is this batch's doing.
    isTerminalRunStatus(run.status) ? streamKey(draft.runId, '') : null,
    messages.map((_, index) => claims[index]?.messageId ?? `msg_${ulid()}`),
    messages.map((message) => message.topic),
    jsonArray(messages.map((message) => message.payload)),
    messages.map((message) => message.options?.groupKey ?? null),
    messages.map((message) => message.options?.idempotencyKey ?? null),
    messages.map((message) => message.options?.delayMs ?? 0),
    claims.map((claim) => claim?.token ?? null),
    messages.map((message) => message.claim?.leaseMs ?? null),
    lapsedClaimBackoffMs,
    idempotencyRetentionMs,
  );
  const queueNotificationsAt = values.length;
  values.push(
    messages.map(() => null),
    acknowledged.map((claim) => claim.messageId),
    acknowledged.map((claim) => claim.token),
    acknowledged.map((claim) => claim.topic),
    acknowledged.map((claim) => claim.groupKey ?? null),
    acknowledged.map((claim) => queueKey(claim.topic)),
    storedRun.inputSeq,
    storedRun.outcomeSeq,
    newStepRows.map((row) => row.inputInEvent),
    newStepRows.map((row) => row.outputSeq),
    newStepRows.map((row) => row.errorSeq),
    knownStepRows.map((row) => row.inputInEvent),
    knownStepRows.map((row) => row.outputSeq),
    knownStepRows.map((row) => row.errorSeq),
    jsonArray(knownStepRows.map((row) => row.bodyWithError)),
    newHookRows.map((row) => row.metadataInEvent),
    knownHookRows.map((row) => row.metadataInEvent),
  );
  const tail = eventNotification(draft.runId, formatTail({ lastSeq: run.lastSeq, status: run.status }));
  const wakes = messages.map((message) => (message.claim === undefined ? queueKey(message.topic) : null));
  const call: BatchCall = {
    text: callText(db, values.length),
    values,
    claims,
    notifications: [tail, ...wakes.filter((wake) => wake !== null)],
    notifiesItself: false,
    notifyInside() {
      values[eventNotificationAt] = tail;
      values[queueNotificationsAt] = wakes;
      call.notifiesItself = true;
    },
  };
  return call;
}

/**
 * Sets the claims that hold (per `append_batch`'s answer) on every result of the append,
 * and returns the results.
 */
export function reportClaims(
  call: BatchCall,
  held: readonly (boolean | null)[] | null | undefined,
  results: CreateEventResult[],
): CreateEventResult[] {
  const claims = call.claims.filter(
    (claim, index): claim is QueueClaim => claim !== undefined && held?.[index] === true,
  );
  if (claims.length > 0) for (const result of results) result.claims = claims;
  return results;
}
