import { randomUUID } from 'node:crypto';
import {
  type AppendInput,
  type CreateEventParams,
  type CreateEventRequest,
  type CreateEventResult,
  EventNotFoundError,
  type EventPage,
  type Hook,
  idSchema,
  isTerminalRunStatus,
  type ListEventsOptions,
  limits,
  listEventsOptionsSchema,
  parseAppendInput,
  parseInput,
  type QueueClaim,
  type Run,
  RunNotFoundError,
  type RunStatus,
  type Step,
  seqSchema,
  type Wait,
  type WatchedTail,
  type WatchOptions,
  type WorldEvent,
  type WorldEvents,
  watchAnswersAt,
  watchOptionsSchema,
} from '@cairn/core/world';
import { asList, decodeEntity, decodeEvent, decodeRecord, failureToError, type ScriptFailure } from './codec.js';
import type { HookTokens, TokenClaim } from './hook-tokens.js';
import { eventKey, statusInEventDetail } from './keys.js';
import type { Notifications } from './notifications.js';
import { buildOutbox, type Outbox, refuseTakenIds } from './outbox.js';
import { crossSlotProbe, type OutboxRelay } from './outbox-relay.js';
import { repeatWindowMs } from './scripts.js';
import type { Store } from './store.js';

export interface EventLogSettings {
  maxPayloadBytes: number;
  maxFutureCreatedAtMs: number;
  idempotencyRetentionMs: number;
  pollIntervalMs: number;
}

/** An append's reply, the first of its texts; `run` and `entity` are the indexes of later ones (see append.lua). */
interface AppendReply {
  results: { seq: number; at: number; run: number; kind?: 'step' | 'hook' | 'wait'; entity?: number }[];
  freed: string[];
  outbox: string[];
  /** Per outbox message, '1' where its claim holds in the run's own partition (absent before claims existed). */
  claims?: string;
}

/**
 * The claims an append's outbox holds, in `enqueue` order: those the append itself took
 * (`held`, one digit per message), and those the relay took in another partition.
 */
function heldClaims(outbox: Outbox, held: string, entries: string[], relayed: boolean[]): QueueClaim[] {
  const elsewhere = new Set<string>();
  entries.forEach((entry, index) => {
    if (relayed[index]) elsewhere.add((JSON.parse(entry) as { id: string }).id);
  });
  return outbox.claims.filter(
    (claim, index): claim is QueueClaim =>
      claim !== undefined && (held[index] === '1' || elsewhere.has(outbox.messages[index]!.id)),
  );
}

/**
 * Each eventData field as JSON text, passed to the script as an argument of its own (`text`
 * adds one and answers its ARGV index): the script stores them without parsing (see
 * scripts/lib.lua).
 */
function dataFields(request: CreateEventRequest, text: (json: string) => number): Record<string, number> {
  const fields: Record<string, number> = {};
  const data = (request as { eventData?: Record<string, unknown> }).eventData ?? {};
  for (const [field, value] of Object.entries(data)) {
    if (value !== undefined) fields[field] = text(JSON.stringify(value));
  }
  return fields;
}

/** Input is validated here; the append itself is scripts/append.lua, one call per append. */
export class RedisEventLog implements WorldEvents {
  constructor(
    private readonly store: Store,
    private readonly notifications: Notifications,
    private readonly tokens: HookTokens,
    private readonly relay: OutboxRelay,
    private readonly settings: EventLogSettings,
  ) {}

  async create(runId: string | null, request: CreateEventRequest, params?: CreateEventParams) {
    const [result] = await this.append(parseAppendInput(runId, { request }, params, this.settings.maxPayloadBytes));
    return result!;
  }

  async createBatch(runId: string | null, requests: readonly CreateEventRequest[], params?: CreateEventParams) {
    return this.append(parseAppendInput(runId, { requests }, params, this.settings.maxPayloadBytes));
  }

  private async append({ runId, requests, params, creates }: AppendInput): Promise<CreateEventResult[]> {
    this.store.assertOpen();
    const { keys } = this.store;
    const base = keys.runBase(runId);
    const here = keys.partitionOf(`run:${runId}`);
    const outbox = buildOutbox(keys, here, params);
    await refuseTakenIds(this.store, outbox.messages);
    const raws = requests.map((request) => JSON.stringify(request));
    // ARGV[1] is the argument below; these texts follow it.
    const texts: string[] = [];
    const text = (json: string) => texts.push(json) + 1;
    const argument = {
      // One id per append, the same on every attempt: a repeat of an attempt that
      // committed answers with what it wrote instead of writing it again.
      id: randomUUID(),
      window: repeatWindowMs,
      base,
      runId,
      runIdJ: JSON.stringify(runId),
      channel: keys.channel,
      creates,
      ...(params?.lastKnownEventId === undefined ? {} : { last: params.lastKnownEventId }),
      ...(params?.lastKnownEventId !== undefined || params?.asOfTimestamp === undefined
        ? {}
        : { asOf: params.asOfTimestamp }),
      ...(params?.createdAt === undefined ? {} : { createdAt: params.createdAt }),
      maxAhead: this.settings.maxFutureCreatedAtMs,
      retention: this.settings.idempotencyRetentionMs,
      requests: requests.map((request, index) => ({
        t: request.eventType,
        ...(request.correlationId === undefined
          ? {}
          : { c: request.correlationId, cj: JSON.stringify(request.correlationId) }),
        ...(request.eventType === 'hook_created' ? { tok: request.eventData.token } : {}),
        ...(request.eventType === 'hook_received' && request.eventData?.deliveryId !== undefined
          ? { dv: request.eventData.deliveryId }
          : {}),
        raw: text(raws[index]!),
        d: dataFields(request, text),
      })),
      tokens: {} as Record<string, TokenClaim>,
      messages: outbox.messages,
      acks: outbox.acks,
    };
    const claimed = requests.flatMap((request) =>
      request.eventType === 'hook_created' ? [request.eventData.token] : [],
    );
    let revoked: { token: string; nonce: string } | undefined;
    for (let attempt = 1; ; attempt += 1) {
      // Hook tokens are claimed in their own partitions first (hook-tokens.ts).
      for (const token of claimed) {
        const refused = revoked?.token === token ? revoked.nonce : undefined;
        argument.tokens[token] = await this.tokens.claim(token, runId, refused);
      }
      if (claimed.length > 0) crossSlotProbe.between?.('token-claim');
      const answer = await this.store.script<string[] | { failure: ScriptFailure }>(
        'append',
        `${base}:r:${runId}`,
        argument,
        texts,
      );
      if (!Array.isArray(answer)) {
        if (answer.failure.code === 'CLAIM_REVOKED' && attempt < 10) {
          const token = answer.failure.token as string;
          const claim = argument.tokens[token];
          revoked = claim !== undefined && 'n' in claim ? { token, nonce: claim.n } : undefined;
          continue;
        }
        throw failureToError(runId, answer.failure);
      }
      const reply = JSON.parse(answer[0]!) as AppendReply;
      for (const token of asList(reply.freed)) this.relay.track(this.tokens.release(token, runId));
      // Relayed before the append resolves, so a send that follows sees the messages (and
      // their idempotency keys), and an acknowledgement lands before its writer moves on. A
      // failed relay is left to the sweep; a claim it carried is then not reported, and
      // lapses (is delivered) like that of a writer that died.
      const entries = asList(reply.outbox);
      if (entries.length > 0) crossSlotProbe.between?.('append');
      const relayed = await Promise.all(entries.map((entry) => this.relay.relay(base, entry).catch(() => false)));
      const claims = heldClaims(outbox, reply.claims ?? '', entries, relayed);
      return reply.results.map(({ seq, at, run, kind, entity }, index) => {
        const result: CreateEventResult = {
          event: decodeEvent(runId, seq, `${at}|${raws[index]}`),
          run: decodeEntity<Run>(answer[run]!),
        };
        if (kind === 'step') result.step = decodeEntity<Step>(answer[entity!]!);
        if (kind === 'hook') result.hook = decodeEntity<Hook>(answer[entity!]!);
        if (kind === 'wait') result.wait = decodeEntity<Wait>(answer[entity!]!);
        if (claims.length > 0) result.claims = claims;
        return result;
      });
    }
  }

  async list(runId: string, options?: ListEventsOptions): Promise<EventPage> {
    parseInput(idSchema, runId, 'runId');
    const { afterSeq = 0, limit = limits.defaultPageSize } =
      parseInput(listEventsOptionsSchema, options, 'options') ?? {};
    const client = await this.store.client();
    const keys = this.store.keys.run(this.store.keys.runBase(runId), runId);
    // Events never change once written, so the tail read first bounds a consistent page.
    const lastSeq = await client.hget(keys.run, 'lastSeq');
    if (lastSeq === null) throw new RunNotFoundError({ runId });
    const last = Math.min(Number(lastSeq), afterSeq + limit);
    if (last <= afterSeq) return { data: [], hasMore: false };
    const seqs = Array.from({ length: last - afterSeq }, (_, index) => afterSeq + 1 + index);
    const entries = await client.hmget(keys.events, ...seqs.map(String));
    const data = entries.map((entry, index) => decodeEvent(runId, seqs[index]!, entry!));
    return { data, hasMore: Number(lastSeq) > last };
  }

  async get(runId: string, eventId: string): Promise<WorldEvent> {
    parseInput(idSchema, runId, 'runId');
    parseInput(idSchema, eventId, 'eventId');
    const seq = Number(/^evt_(\d{12})$/.exec(eventId)?.[1] ?? 0);
    const client = await this.store.client();
    const keys = this.store.keys.run(this.store.keys.runBase(runId), runId);
    const [lastSeq, entry] = await Promise.all([
      client.hget(keys.run, 'lastSeq'),
      client.hget(keys.events, String(seq)),
    ]);
    if (lastSeq === null) throw new RunNotFoundError({ runId });
    if (entry === null || seq === 0) throw new EventNotFoundError({ runId, eventId });
    return decodeEvent(runId, seq, entry);
  }

  /**
   * Subscribes first, then reads the tail, then waits: a commit in between still wakes us.
   * Resolves with the tail it read; told only the end matters, it reads the whole run, so
   * the ended run comes with the tail and a waiting client needs no read of its own.
   */
  async watch(
    runId: string,
    afterSeq: number,
    signal?: AbortSignal,
    options?: WatchOptions,
  ): Promise<WatchedTail | undefined> {
    parseInput(idSchema, runId, 'runId');
    parseInput(seqSchema, afterSeq, 'afterSeq');
    parseInput(watchOptionsSchema, options, 'options');
    const runKey = this.store.keys.run(this.store.keys.runBase(runId), runId).run;
    const untilEnded = options?.untilEnded === true;
    // Told only the end matters, the watch lets pass the changes that leave the run going.
    const heeds = untilEnded
      ? (detail: string) => {
          const status = statusInEventDetail(detail);
          return status === undefined || isTerminalRunStatus(status as RunStatus);
        }
      : undefined;
    for (;;) {
      this.store.assertNotClosing();
      const waiter = this.notifications.waiter(eventKey(runId), heeds);
      try {
        // Given up when close starts, so a call the server never answers cannot hold the watch.
        await this.store.unlessClosing(this.notifications.ready());
        const client = await this.store.unlessClosing(this.store.client());
        // The whole run when only its end matters (it is read here once at the start and
        // once at the end); otherwise just the two fields. Both are written with its creation.
        const record = untilEnded
          ? await this.store.unlessClosing(client.hgetall(runKey))
          : await this.store
              .unlessClosing(client.hmget(runKey, 'lastSeq', 'status'))
              .then(([lastSeq, status]) => (lastSeq === null ? {} : { lastSeq, status: status! }));
        if (record.lastSeq === undefined) throw new RunNotFoundError({ runId });
        // A status is stored as JSON text.
        const tail: WatchedTail = { lastSeq: Number(record.lastSeq), status: JSON.parse(record.status!) as RunStatus };
        if (tail.lastSeq > afterSeq && watchAnswersAt(options, tail.status)) {
          waiter.cancel();
          return untilEnded && isTerminalRunStatus(tail.status)
            ? { ...tail, run: decodeRecord<Run>(record as Record<string, string>) }
            : tail;
        }
        if (signal?.aborted) {
          waiter.cancel();
          return undefined;
        }
      } catch (error) {
        waiter.cancel();
        throw error;
      }
      await waiter.wait(this.settings.pollIntervalMs * 4, signal);
      if (signal?.aborted) return undefined;
    }
  }
}
