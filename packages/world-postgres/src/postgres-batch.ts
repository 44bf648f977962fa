import {
  type CreateEventParams,
  type CreateEventResult,
  isTerminalRunStatus,
  type QueueClaim,
  type RunDraft,
  type RunEntityReader,
} from '@cairn/core/world';
import { ackColumns, hookColumns, jsonArray, outboxColumns, stepColumns, waitColumns } from './batch-columns.js';
import type { Database } from './database.js';
import type { InlineValue } from './inline-sql.js';
import { eventNotification, streamKey } from './notifications.js';
import { formatTail } from './run-tails.js';
import { lastSeqs, runRow } from './stored-views.js';

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

/** Each World's call text, built once, as it goes with every append. */
const callTexts = new WeakMap<Database, string>();

/** The call's text, with one placeholder per value (the function's 63 parameters, in order). */
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
    // Who is appending: the statement skips its NOTIFY if the run has no other watcher.
    db.watcherId,
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
