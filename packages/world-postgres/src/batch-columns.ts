/**
 * The columns of one `append_batch` call, built from a run's draft: each kind of entity the
 * append creates or changes becomes parallel arrays (ids, seqs, flags) and one JSON array
 * of bodies, which the function pairs up by position.
 */
import type { EnqueueRequest, Hook, QueueClaim, RunDraft, RunEntityReader, Wait } from '@cairn/core/world';
import { ulid } from '@cairn/core/world';
import { queueKey } from './notifications.js';
import { hookRow, stepRow } from './stored-views.js';

/** Rows' JSON bodies as one JSON array: one string the driver passes through untouched. */
export const jsonArray = (rows: readonly unknown[]) => JSON.stringify(rows);

/** The seq of the last event of each type and correlation id in the draft, by `type:correlationId`. */
export type Seqs = ReadonlyMap<string, number>;
const seqOf = (seqs: Seqs, type: string, id: string) => seqs.get(`${type}:${id}`) ?? 0;

/**
 * The draft's steps as columns: new ones are inserted and known ones updated (an upsert
 * would also lock the existing row and confirm its speculative insert, two more WAL records
 * per step).
 */
export function stepColumns(draft: RunDraft, base: RunEntityReader, seqs: Seqs) {
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
export function waitColumns(draft: RunDraft, base: RunEntityReader, seqs: Seqs) {
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
export function hookColumns(draft: RunDraft, base: RunEntityReader, seqs: Seqs) {
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
export function outboxColumns(messages: readonly EnqueueRequest[]) {
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
export function ackColumns(acknowledged: readonly QueueClaim[]) {
  return {
    messageIds: acknowledged.map((claim) => claim.messageId),
    tokens: acknowledged.map((claim) => claim.token),
    topics: acknowledged.map((claim) => claim.topic),
    groupKeys: acknowledged.map((claim) => claim.groupKey ?? null),
    notifications: acknowledged.map((claim) => queueKey(claim.topic)),
  };
}
