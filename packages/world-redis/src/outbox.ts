import { randomUUID } from 'node:crypto';
import { type CreateEventParams, InvalidInputError, type QueueClaim } from '@cairn/core/world';
import type { Keys } from './keys.js';
import { newMessageId, newMessageIdIn } from './message-id.js';
import type { Store } from './store.js';

/** One message of an append's outbox, as scripts/append.lua takes it. */
export interface OutboxMessage {
  id: string;
  topic: string;
  payload: string;
  group?: string;
  idem?: string;
  delay: number;
  /** In the run's own partition: queued by the append itself, not by the relay. */
  here: boolean;
  base: string;
  claim?: { token: string; lease: number };
  /** The writer chose the id: the queue may hold it already. */
  chosen?: true;
}

/** An acknowledgement (`CreateEventParams.acknowledge`), as scripts/append.lua takes it. */
export interface OutboxAcknowledgement {
  ack: true;
  id: string;
  token: string;
  topic: string;
  here: boolean;
  base: string;
}

/** An append's outbox: its messages, its acknowledgements, and the claim each message asked for. */
export interface Outbox {
  messages: OutboxMessage[];
  acks: OutboxAcknowledgement[];
  /** Per message, in `enqueue` order: the claim it is if it holds. */
  claims: (QueueClaim | undefined)[];
}

/**
 * Where each message of an append's outbox lives (keys.ts): a group's messages with the
 * group, a keyed message with its key, any other with the run, under an id minted to hash
 * there. A claimed message without a group lives where its id hashes, so a claim is found
 * from its own fields; under an id the writer chose that is often another partition, and
 * the relay queues it there, leased from the append's commit (lib.lua, queue_claimed).
 */
export function buildOutbox(keys: Keys, runPartition: number, params: CreateEventParams | undefined): Outbox {
  const claims: (QueueClaim | undefined)[] = [];
  const messages = (params?.enqueue ?? []).map(({ topic, payload, options = {}, claim }): OutboxMessage => {
    const grouped = options.groupKey !== undefined;
    const home = keys.messagePartition(topic, options, runPartition);
    const id = claim?.messageId ?? (grouped ? newMessageId() : newMessageIdIn(keys, home));
    const partition = claim === undefined || grouped ? home : keys.partitionOf(id);
    const token = claim === undefined ? undefined : (claim.token ?? `claim_${randomUUID()}`);
    claims.push(
      token === undefined
        ? undefined
        : { topic, messageId: id, token, ...(grouped ? { groupKey: options.groupKey } : {}) },
    );
    return {
      id,
      topic,
      payload: JSON.stringify(payload),
      ...(grouped ? { group: options.groupKey } : {}),
      ...(options.idempotencyKey === undefined ? {} : { idem: options.idempotencyKey }),
      delay: options.delayMs ?? 0,
      here: partition === runPartition,
      base: keys.base(partition),
      ...(token === undefined ? {} : { claim: { token, lease: claim!.leaseMs } }),
      ...(claim?.messageId === undefined ? {} : { chosen: true as const }),
    };
  });
  const acks = (params?.acknowledge ?? []).map(({ topic, messageId, token, groupKey }): OutboxAcknowledgement => {
    const partition = keys.claimPartition({ messageId, ...(groupKey === undefined ? {} : { groupKey }) });
    return { ack: true, id: messageId, token, topic, here: partition === runPartition, base: keys.base(partition) };
  });
  return { messages, acks, claims };
}

/**
 * Refuses a claimed message whose chosen id the queue of another partition holds (or has
 * held), before the append writes anything: the append cannot look there itself. Ids in the
 * run's own partition are checked inside the append (MESSAGE_TAKEN).
 */
export async function refuseTakenIds(store: Store, messages: readonly OutboxMessage[]): Promise<void> {
  const elsewhere = messages.flatMap((message, index) => (message.chosen && !message.here ? [{ message, index }] : []));
  if (elsewhere.length === 0) return;
  const client = await store.client();
  const found = await Promise.all(
    elsewhere.map(({ message }) =>
      client.exists(`${message.base}:m:${message.id}`, `${message.base}:seen:${message.id}`),
    ),
  );
  const taken = elsewhere.find((_, position) => found[position]! > 0);
  if (taken !== undefined) throw takenIdError(taken.index, taken.message.id);
}

export const takenIdError = (index: number, messageId: string) =>
  new InvalidInputError({
    field: `params.enqueue.${index}.claim.messageId`,
    value: messageId,
    reason: 'is already in the queue (a claim’s chosen message id must be unique)',
  });
