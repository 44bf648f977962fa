import {
  copyJson,
  isIdQuickly,
  isPlainRecord,
  isTimestamp,
  onlyKeys,
  optionalField,
  unsure,
} from './quick-event-check.js';
import { limits } from './schemas/primitives.js';
import {
  maxClaimIdLength,
  maxLeaseMs,
  maxOutboxLength,
  maxQueueDelayMs,
  maxTopicLength,
  minLeaseMs,
  topicPattern,
} from './schemas/queue.js';
import type { CreateEventParams } from './world.js';

/*
 * The quick path for an append's parameters (its fences, outbox and claims to settle), on
 * the same terms as the event checks in quick-event-check.ts: accept only what is certainly
 * valid, built as the schema would build it, and leave everything else to the schema.
 */

/** True when `value` certainly passes `topicSchema`. */
function isTopic(value: unknown): value is string {
  return typeof value === 'string' && value.length <= maxTopicLength && topicPattern.test(value);
}

/** True when `value` certainly passes the claim id schemas (a message id or a claim token). */
function isClaimId(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= maxClaimIdLength;
}

function isWholeBetween(value: unknown, least: number, most: number): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= least && value <= most;
}

const isQueueDelay = (value: unknown) => isWholeBetween(value, 0, maxQueueDelayMs);

/** A message's `options` as `sendOptionsSchema` gives them (undefined when absent), or `unsure`. */
function sendOptions(value: unknown, claimed: boolean): unknown {
  if (value === undefined) return undefined;
  if (!isPlainRecord(value) || !onlyKeys(value, ['delayMs', 'idempotencyKey', 'groupKey'])) return unsure;
  // A claimed message takes no delay and no key: the schema names that refusal.
  if (claimed && (value.delayMs !== undefined || value.idempotencyKey !== undefined)) return unsure;
  const copy: Record<string, unknown> = {};
  const accepted =
    optionalField(value, 'delayMs', isQueueDelay, copy) &&
    optionalField(value, 'idempotencyKey', isIdQuickly, copy) &&
    optionalField(value, 'groupKey', isIdQuickly, copy);
  return accepted ? copy : unsure;
}

/** A message's `claim` as `enqueueClaimSchema` gives it (undefined when absent), or `unsure`. */
function enqueueClaim(value: unknown): unknown {
  if (value === undefined) return undefined;
  if (!isPlainRecord(value) || !onlyKeys(value, ['leaseMs', 'messageId', 'token'])) return unsure;
  if (!isWholeBetween(value.leaseMs, minLeaseMs, maxLeaseMs)) return unsure;
  const copy: Record<string, unknown> = { leaseMs: value.leaseMs };
  const accepted = optionalField(value, 'messageId', isClaimId, copy) && optionalField(value, 'token', isClaimId, copy);
  return accepted ? copy : unsure;
}

/** One outbox message as `enqueueRequestSchema` gives it, or `unsure`. */
function enqueueRequest(value: unknown): unknown {
  if (!isPlainRecord(value) || !onlyKeys(value, ['topic', 'payload', 'options', 'claim'])) return unsure;
  if (!isTopic(value.topic) || !Object.hasOwn(value, 'payload')) return unsure;
  const payload = copyJson(value.payload, 1);
  if (payload === unsure) return unsure;
  const claim = enqueueClaim(value.claim);
  if (claim === unsure) return unsure;
  const options = sendOptions(value.options, claim !== undefined);
  if (options === unsure) return unsure;
  const copy: Record<string, unknown> = { topic: value.topic, payload };
  if (options !== undefined) copy.options = options;
  if (claim !== undefined) copy.claim = claim;
  return copy;
}

/** A claim handed back to settle it, as `queueClaimSchema` gives it, or `unsure`. */
function settledClaim(value: unknown): unknown {
  if (!isPlainRecord(value) || !onlyKeys(value, ['topic', 'messageId', 'token', 'groupKey'])) return unsure;
  const { topic, messageId, token } = value;
  if (!isTopic(topic) || !isClaimId(messageId) || !isClaimId(token)) return unsure;
  const copy: Record<string, unknown> = { topic, messageId, token };
  return optionalField(value, 'groupKey', isIdQuickly, copy) ? copy : unsure;
}

const isKnownEventId = (value: unknown) =>
  typeof value === 'string' && value.length > 0 && value.length <= limits.maxIdLength;
const isFiniteNumber = (value: unknown) => typeof value === 'number' && Number.isFinite(value);

/** Each item of `value` through `check`: the copies, or undefined when any is `unsure` or there are too many. */
function listOf(value: unknown, check: (item: unknown) => unknown): unknown[] | undefined {
  if (!Array.isArray(value) || value.length > maxOutboxLength) return undefined;
  const copy: unknown[] = new Array(value.length);
  for (let index = 0; index < value.length; index++) {
    // A hole reads as undefined, which no check takes.
    const item = check(value[index]);
    if (item === unsure) return undefined;
    copy[index] = item;
  }
  return copy;
}

/**
 * `createBatch` parameters as `createEventParamsSchema` would parse them, when certainly
 * valid; otherwise undefined.
 */
export function acceptEventParamsQuickly(value: unknown): { params: CreateEventParams | undefined } | undefined {
  if (value === undefined) return { params: undefined };
  if (
    !isPlainRecord(value) ||
    !onlyKeys(value, ['lastKnownEventId', 'asOfTimestamp', 'createdAt', 'enqueue', 'acknowledge'])
  ) {
    return undefined;
  }
  const { enqueue, acknowledge } = value;
  const params: Record<string, unknown> = {};
  const fencesAccepted =
    optionalField(value, 'lastKnownEventId', isKnownEventId, params) &&
    optionalField(value, 'asOfTimestamp', isFiniteNumber, params) &&
    optionalField(value, 'createdAt', isTimestamp, params);
  if (!fencesAccepted) return undefined;
  if (enqueue !== undefined) {
    const messages = listOf(enqueue, enqueueRequest);
    if (messages === undefined) return undefined;
    params.enqueue = messages;
  }
  if (acknowledge !== undefined) {
    const claims = listOf(acknowledge, settledClaim);
    if (claims === undefined) return undefined;
    params.acknowledge = claims;
  }
  return { params: params as CreateEventParams };
}
