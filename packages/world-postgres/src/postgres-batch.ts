import {
  type CreateEventParams,
  type CreateEventResult,
  type EnqueueRequest,
  type Hook,
  isTerminalRunStatus,
  type QueueClaim,
  type RunDraft,
  type RunEntityReader,
  ulid,
  type Wait,
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
 *
 * The columns are built by the small functions below, one per kind of row. As one
 * function of some forty inline closures this took V8 about 235 ms to optimise, and it was
 * optimised again each time an append took a branch it had not taken before (five times in
 * a worker's first thousands of runs), on the same two cores as the work itself.
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
  // Rows keep only what is not in an event; see stored-views.ts.
  const storedRun = runRow(run, seqs);
  const steps = stepColumns(draft, base, seqs);
  const waits = waitColumns(draft, base, seqs);
  const hooks = hookColumns(draft, base, seqs);
  const outbox = outboxColumns(params?.enqueue ?? []);
  const acks = ackColumns(params?.acknowledge ?? []);
  const events = draft.events;
  const eventSeqs: number[] = [];
  const eventStamps: number[] = [];
  for (const event of events) {
    eventSeqs.push(event.seq);
    eventStamps.push(event.createdAt);
  }
  const values: InlineValue[] = [
    guards.expectedLastSeq,
    guards.createdAt,
    Number.isFinite(guards.maxFutureCreatedAtMs) ? guards.maxFutureCreatedAtMs : null,
    db.tables.injectedNow(),
    draft.runId,
    eventSeqs,
    eventStamps,
    jsonArray(events),
    run.workflowName,
    run.status,
    run.createdAt,
    run.updatedAt,
    run.lastSeq,
    storedRun.body,
    steps.newIds,
    steps.newSeqs,
    steps.newBodies,
    steps.knownIds,
    steps.knownBodies,
    waits.newIds,
    waits.newSeqs,
    waits.newBodies,
    waits.knownIds,
    waits.knownBodies,
    db.channel,
  ];
  // Null unless the call notifies inside (see BatchCall): the statement then sends only what
  // it alone can know of, a stream it closes and a group it frees for a waiting message.
  const eventNotificationAt = values.length;
  values.push(
    null,
    hooks.knownIds,
    hooks.knownActive,
    hooks.knownBodies,
    hooks.newIds,
    hooks.newSeqs,
    hooks.newTokens,
    hooks.newActive,
    hooks.newBodies,
    // The append that ends the run closes its open streams and wakes their readers (the
    // capability `streams.closedWithRun`). A batch to an ended run is refused by the draft,
    // so an ended run here is this batch's doing.
    isTerminalRunStatus(run.status) ? streamKey(draft.runId, '') : null,
    outbox.messageIds,
    outbox.topics,
    outbox.payloads,
    outbox.groupKeys,
    outbox.idempotencyKeys,
    outbox.delays,
    outbox.claimTokens,
    outbox.leases,
    lapsedClaimBackoffMs,
    idempotencyRetentionMs,
  );
  const queueNotificationsAt = values.length;
  values.push(
    outbox.noNotifications,
    acks.messageIds,
    acks.tokens,
    acks.topics,
    acks.groupKeys,
    acks.notifications,
    storedRun.inputSeq,
    storedRun.outcomeSeq,
    steps.newInputInEvent,
    steps.newOutputSeqs,
    steps.newErrorSeqs,
    steps.knownInputInEvent,
    steps.knownOutputSeqs,
    steps.knownErrorSeqs,
    steps.knownBodiesWithError,
    hooks.newMetadataInEvent,
    hooks.knownMetadataInEvent,
  );
  const tail = eventNotification(draft.runId, formatTail({ lastSeq: run.lastSeq, status: run.status }));
  const call: BatchCall = {
    text: callText(db, values.length),
    values,
    claims: outbox.claims,
    notifications: [tail, ...outbox.wakes],
    notifiesItself: false,
    notifyInside() {
      values[eventNotificationAt] = tail;
      values[queueNotificationsAt] = outbox.wakesInside;
      call.notifiesItself = true;
    },
  };
  return call;
}

type Seqs = ReadonlyMap<string, number>;
const seqOf = (seqs: Seqs, type: string, id: string) => seqs.get(`${type}:${id}`) ?? 0;

/**
 * The draft's steps as columns: new ones are inserted and known ones updated (an upsert
 * would also lock the existing row and confirm its speculative insert, two more WAL records
 * per step).
 */
function stepColumns(draft: RunDraft, base: RunEntityReader, seqs: Seqs) {
  const newIds: string[] = [];
  const newSeqs: number[] = [];
  const newRows: unknown[] = [];
  const newInputInEvent: boolean[] = [];
  const newOutputSeqs: (number | null)[] = [];
  const newErrorSeqs: (number | null)[] = [];
  const knownIds: string[] = [];
  const knownRows: unknown[] = [];
  const knownRowsWithError: unknown[] = [];
  const knownInputInEvent: boolean[] = [];
  const knownOutputSeqs: (number | null)[] = [];
  const knownErrorSeqs: (number | null)[] = [];
  for (const step of draft.steps.values()) {
    const row = stepRow(step, seqs);
    if (base.step(step.stepId) === undefined) {
      newIds.push(step.stepId);
      newSeqs.push(seqOf(seqs, 'step_created', step.stepId));
      // A new step's error is from this batch; were it not, the row would hold it itself.
      newRows.push(row.bodyWithError ?? row.body);
      newInputInEvent.push(row.inputInEvent);
      newOutputSeqs.push(row.outputSeq);
      newErrorSeqs.push(row.errorSeq);
    } else {
      knownIds.push(step.stepId);
      knownRows.push(row.body);
      knownRowsWithError.push(row.bodyWithError);
      knownInputInEvent.push(row.inputInEvent);
      knownOutputSeqs.push(row.outputSeq);
      knownErrorSeqs.push(row.errorSeq);
    }
  }
  return {
    newIds,
    newSeqs,
    newBodies: jsonArray(newRows),
    newInputInEvent,
    newOutputSeqs,
    newErrorSeqs,
    knownIds,
    knownBodies: jsonArray(knownRows),
    knownBodiesWithError: jsonArray(knownRowsWithError),
    knownInputInEvent,
    knownOutputSeqs,
    knownErrorSeqs,
  };
}

/** The draft's waits as columns, new and known apart. */
function waitColumns(draft: RunDraft, base: RunEntityReader, seqs: Seqs) {
  const newIds: string[] = [];
  const newSeqs: number[] = [];
  const newWaits: Wait[] = [];
  const knownIds: string[] = [];
  const knownWaits: Wait[] = [];
  for (const wait of draft.waits.values()) {
    if (base.wait(wait.waitId) === undefined) {
      newIds.push(wait.waitId);
      newSeqs.push(seqOf(seqs, 'wait_created', wait.waitId));
      newWaits.push(wait);
    } else {
      knownIds.push(wait.waitId);
      knownWaits.push(wait);
    }
  }
  return { newIds, newSeqs, newBodies: jsonArray(newWaits), knownIds, knownBodies: jsonArray(knownWaits) };
}

/**
 * The columns of a batch that touches no hook, which is nearly every batch. Shared rather
 * than built each time: V8 would otherwise optimise `hookColumns`, closures and all, for
 * workflows that never create a hook.
 */
const noHookColumns = Object.freeze({
  knownIds: [],
  knownActive: [],
  knownBodies: '[]',
  knownMetadataInEvent: [],
  newIds: [],
  newSeqs: [],
  newTokens: [],
  newActive: [],
  newBodies: '[]',
  newMetadataInEvent: [],
});

/** The draft's hooks as columns, new and known apart. */
function hookColumns(draft: RunDraft, base: RunEntityReader, seqs: Seqs) {
  if (draft.hooks.size === 0) return noHookColumns;
  const known: Hook[] = [];
  const created: Hook[] = [];
  for (const hook of draft.hooks.values()) (base.hook(hook.hookId) === undefined ? created : known).push(hook);
  // Sorted by token: batches that claim overlapping tokens take the index entries in one order.
  created.sort((x, y) => (x.token < y.token ? -1 : x.token > y.token ? 1 : 0));
  const knownRows = known.map(hookRow);
  const newRows = created.map(hookRow);
  return {
    knownIds: known.map((hook) => hook.hookId),
    knownActive: known.map((hook) => hook.status === 'active'),
    knownBodies: jsonArray(knownRows.map((row) => row.body)),
    knownMetadataInEvent: knownRows.map((row) => row.metadataInEvent),
    newIds: created.map((hook) => hook.hookId),
    newSeqs: created.map((hook) => seqOf(seqs, 'hook_created', hook.hookId)),
    newTokens: created.map((hook) => hook.token),
    newActive: created.map((hook) => hook.status === 'active'),
    newBodies: jsonArray(newRows.map((row) => row.body)),
    newMetadataInEvent: newRows.map((row) => row.metadataInEvent),
  };
}

/** The outbox as columns, with the claim each message asked for and the wakes of the rest. */
function outboxColumns(messages: readonly EnqueueRequest[]) {
  const claims: (QueueClaim | undefined)[] = [];
  const messageIds: string[] = [];
  const topics: string[] = [];
  const payloads: unknown[] = [];
  const groupKeys: (string | null)[] = [];
  const idempotencyKeys: (string | null)[] = [];
  const delays: number[] = [];
  const claimTokens: (string | null)[] = [];
  const leases: (number | null)[] = [];
  const noNotifications: null[] = [];
  const wakesInside: (string | null)[] = [];
  const wakes: string[] = [];
  for (const { topic, payload, options, claim } of messages) {
    const held: QueueClaim | undefined =
      claim === undefined
        ? undefined
        : {
            topic,
            messageId: claim.messageId ?? `msg_${ulid()}`,
            token: claim.token ?? `claim_${ulid()}`,
            ...(options?.groupKey === undefined ? {} : { groupKey: options.groupKey }),
          };
    claims.push(held);
    messageIds.push(held?.messageId ?? `msg_${ulid()}`);
    topics.push(topic);
    payloads.push(payload);
    groupKeys.push(options?.groupKey ?? null);
    idempotencyKeys.push(options?.idempotencyKey ?? null);
    delays.push(options?.delayMs ?? 0);
    claimTokens.push(held?.token ?? null);
    leases.push(claim?.leaseMs ?? null);
    noNotifications.push(null);
    // A claimed message is its writer's to run: nobody is woken for it.
    const wake = claim === undefined ? queueKey(topic) : null;
    wakesInside.push(wake);
    if (wake !== null) wakes.push(wake);
  }
  return {
    claims,
    messageIds,
    topics,
    payloads: jsonArray(payloads),
    groupKeys,
    idempotencyKeys,
    delays,
    claimTokens,
    leases,
    noNotifications,
    wakesInside,
    wakes,
  };
}

/** The claims `params.acknowledge` settles, as columns. */
function ackColumns(acknowledged: readonly QueueClaim[]) {
  return {
    messageIds: acknowledged.map((claim) => claim.messageId),
    tokens: acknowledged.map((claim) => claim.token),
    topics: acknowledged.map((claim) => claim.topic),
    groupKeys: acknowledged.map((claim) => claim.groupKey ?? null),
    notifications: acknowledged.map((claim) => queueKey(claim.topic)),
  };
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
