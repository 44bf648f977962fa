import {
  assertStorableJson,
  InvalidInputError,
  type JsonValue,
  jsonValueSchema,
  parseInput,
  type SendOptions,
  sendOptionsSchema,
  topicSchema,
} from '@cairn/core/world';
import { withEncoding } from './journal-file.js';
import type { JournalRecord, StoredMessage } from './local-records.js';

/**
 * `queue.send`'s input, checked before anything is queued, with the payload's JSON: it is
 * serialised once, to measure it, and journalled as it is.
 */
export function parseSend(
  topic: string,
  payload: JsonValue,
  options: SendOptions | undefined,
  maxPayloadBytes: number,
): { options: SendOptions; payloadJson: string } {
  parseInput(topicSchema, topic, 'topic');
  parseInput(jsonValueSchema, payload, 'payload');
  const { delayMs = 0, idempotencyKey, groupKey } = parseInput(sendOptionsSchema, options, 'options') ?? {};
  const payloadJson = JSON.stringify(payload);
  assertStorableJson(payloadJson, 'payload', payload);
  const size = Buffer.byteLength(payloadJson);
  if (size > maxPayloadBytes) {
    throw new InvalidInputError({
      field: 'payload',
      value: `${size} bytes`,
      reason: `must be at most ${maxPayloadBytes} bytes`,
    });
  }
  return {
    options: {
      delayMs,
      ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
      ...(groupKey === undefined ? {} : { groupKey }),
    },
    payloadJson,
  };
}

/** The record that journals a new message; `payloadJson`, when known, is spliced in as it is. */
export function messageRecord(message: StoredMessage, payloadJson?: string): JournalRecord {
  const record: JournalRecord = { type: 'message', message };
  if (payloadJson !== undefined) {
    // The same record as JSON.stringify would give, without serialising a large payload twice.
    const { payload: _payload, ...rest } = message;
    const head = JSON.stringify({ type: 'message', message: rest });
    withEncoding(record, `${head.slice(0, -2)},"payload":${payloadJson}}}`);
  }
  return record;
}
