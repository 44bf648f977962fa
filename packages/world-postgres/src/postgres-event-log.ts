import {
  type AppendInput,
  type CreateEventParams,
  type CreateEventRequest,
  type CreateEventResult,
  EventNotFoundError,
  type EventPage,
  idSchema,
  isTerminalRunStatus,
  type ListEventsOptions,
  limits,
  listEventsOptionsSchema,
  parseAppendInput,
  parseInput,
  RunNotFoundError,
  type RunStatus,
  seqSchema,
  type WatchedTail,
  type WatchOptions,
  type WorldEvent,
  type WorldEvents,
  watchAnswersAt,
  watchOptionsSchema,
} from '@cairn/core/world';
import type { Database } from './database.js';
import { eventKey, eventNotification, type Notifications } from './notifications.js';
import { appendEvents } from './postgres-append.js';
import { appendFromCache } from './postgres-warm-append.js';
import { RunCache } from './run-cache.js';
import { formatTail, parseTail } from './run-tails.js';

export interface EventLogSettings {
  maxPayloadBytes: number;
  maxFutureCreatedAtMs: number;
  /** For messages enqueued with an append: how long an acknowledged key keeps deduplicating. */
  idempotencyRetentionMs: number;
  /** Fallback re-check interval for `watch` when a notification is missed. */
  pollIntervalMs: number;
}

/** Input is validated here, before any SQL; the append itself is in postgres-append.ts. */
export class PostgresEventLog implements WorldEvents {
  /** The runs this World appended to last, so their next append can skip the reads. */
  private readonly runCache = new RunCache();
  /**
   * This World's latest append to each run, while it runs. A commit's notification can
   * reach a watcher before the append that sent it has returned (and cached what it wrote).
   */
  private readonly appending = new Map<string, Promise<unknown>>();

  constructor(
    private readonly db: Database,
    private readonly notifications: Notifications,
    private readonly settings: EventLogSettings,
  ) {}

  async create(runId: string | null, request: CreateEventRequest, params?: CreateEventParams) {
    const [result] = await this.append(parseAppendInput(runId, { request }, params, this.settings.maxPayloadBytes));
    return result!;
  }

  async createBatch(runId: string | null, requests: readonly CreateEventRequest[], params?: CreateEventParams) {
    return this.append(parseAppendInput(runId, { requests }, params, this.settings.maxPayloadBytes));
  }

  private async append(input: AppendInput): Promise<CreateEventResult[]> {
    const work = this.appendNow(input);
    this.appending.set(input.runId, work);
    try {
      return await work;
    } finally {
      if (this.appending.get(input.runId) === work) this.appending.delete(input.runId);
    }
  }

  private async appendNow({ runId, requests, params }: AppendInput): Promise<CreateEventResult[]> {
    const { maxFutureCreatedAtMs, idempotencyRetentionMs } = this.settings;
    const settings = { maxFutureCreatedAtMs, idempotencyRetentionMs };
    // Taken before the append: if the listener stays up throughout, every commit after this
    // one reaches it, so the tail this append commits can be followed without a read.
    const generation = this.notifications.listeningGeneration();
    // One round trip when this World wrote the run's tail itself; else read first, then write.
    const results =
      (await appendFromCache(this.db, this.runCache, runId, requests, params, settings)) ??
      (await appendEvents(
        this.db,
        this.runCache,
        runId,
        requests,
        params,
        maxFutureCreatedAtMs,
        idempotencyRetentionMs,
      ));
    const { run } = results.at(-1)!;
    const tail = { lastSeq: run.lastSeq, status: run.status };
    if (generation !== undefined) this.notifications.tails.follow(runId, tail, generation);
    // Watchers here hear of the new tail at once, without the round trip through the
    // database (which may only be sent after the commit: notification-publisher.ts).
    this.notifications.deliverHere(eventNotification(runId, formatTail(tail)));
    return results;
  }

  async list(runId: string, options?: ListEventsOptions): Promise<EventPage> {
    parseInput(idSchema, runId, 'runId');
    const { afterSeq = 0, limit = limits.defaultPageSize } =
      parseInput(listEventsOptionsSchema, options, 'options') ?? {};
    // One statement, one snapshot: the run check and the page agree. One row past the
    // page tells whether there is more.
    const rows = await this.db.query<{ body: WorldEvent | null }>(
      `SELECT e.body FROM ${this.db.tables.runs} r
       LEFT JOIN LATERAL (
         SELECT body FROM ${this.db.tables.events} WHERE run_id = r.run_id AND seq > $2 ORDER BY seq LIMIT $3
       ) e ON true
       WHERE r.run_id = $1`,
      [runId, afterSeq, limit + 1],
    );
    if (rows.length === 0) throw new RunNotFoundError({ runId });
    const data = rows.flatMap((row) => (row.body ? [row.body] : []));
    const hasMore = data.length > limit;
    return { data: hasMore ? data.slice(0, limit) : data, hasMore };
  }

  async get(runId: string, eventId: string): Promise<WorldEvent> {
    parseInput(idSchema, runId, 'runId');
    parseInput(idSchema, eventId, 'eventId');
    const named = Number(/^evt_(\d{1,12})$/.exec(eventId)?.[1] ?? 0);
    // An id past the largest seq a run can hold names no event, like a malformed one: look
    // up seq 0 (never used) rather than send an out-of-range number to an integer column.
    const seq = named <= limits.maxPosition ? named : 0;
    const rows = await this.db.query<{ body: WorldEvent | null }>(
      `SELECT e.body FROM ${this.db.tables.runs} r
       LEFT JOIN ${this.db.tables.events} e ON e.run_id = r.run_id AND e.seq = $2
       WHERE r.run_id = $1`,
      [runId, seq],
    );
    if (rows.length === 0) throw new RunNotFoundError({ runId });
    const event = rows[0]!.body;
    if (!event || event.eventId !== eventId) throw new EventNotFoundError({ runId, eventId });
    return event;
  }

  /**
   * Subscribes first, then looks at the tail, then waits: a commit between the look and the
   * wait still wakes us. The tail comes from the notifications when this World already
   * follows the run (see RunTails), else from a read, which starts following it. A
   * notification carries the new tail, which is returned to the caller. The fallback poll
   * only matters if a notification is lost (the LISTEN connection dropped unnoticed); after
   * it the tail is read again rather than trusted, and the listener wakes everyone when it
   * reconnects anyway.
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
    // With `untilEnded`, a step that leaves the run going costs the watch only its waiter.
    const answers = (tail: WatchedTail) => tail.lastSeq > afterSeq && watchAnswersAt(options, tail.status);
    let trustFollowed = true;
    for (;;) {
      // A World that is closing ends every wait, so close() never hangs on a watcher.
      this.db.assertNotClosing();
      // A notification of a tail that does not answer (a step of a run watched until it
      // ends) does not wake the watch: the tails it carries are kept all the same.
      const waiter = this.notifications.waiter(eventKey(runId), (detail) => {
        const notified = parseTail(detail);
        return notified === undefined || answers(notified);
      });
      let tail: WatchedTail | undefined;
      try {
        await this.notifications.ready();
        tail = trustFollowed ? this.notifications.tails.get(runId) : undefined;
        tail ??= await this.readTail(runId);
      } catch (error) {
        waiter.cancel();
        throw error;
      }
      if (answers(tail) || signal?.aborted) {
        // Never waited on, so cancel it: a waiter left behind stays subscribed for the World's life.
        waiter.cancel();
        return answers(tail) ? this.withEndedRun(runId, tail) : undefined;
      }
      const detail = await waiter.wait(this.settings.pollIntervalMs * 4, signal);
      if (signal?.aborted) return undefined;
      const notified = detail === undefined ? undefined : parseTail(detail);
      if (notified !== undefined && answers(notified)) return this.withEndedRun(runId, notified);
      trustFollowed = notified !== undefined;
    }
  }

  /**
   * The tail, with the ended run when this World committed the ending itself (no read
   * needed). If the ending's notification came first, its append is still returning: wait
   * for it rather than have the caller read the run.
   */
  private async withEndedRun(runId: string, tail: WatchedTail): Promise<WatchedTail> {
    if (!isTerminalRunStatus(tail.status)) return tail;
    let run = this.runCache.ended(runId, tail.lastSeq);
    const pending = this.appending.get(runId);
    if (run === undefined && pending !== undefined) {
      await pending.catch(() => {});
      run = this.runCache.ended(runId, tail.lastSeq);
    }
    return run === undefined ? tail : { ...tail, run };
  }

  /**
   * Reads the run's tail and, if the listener was up throughout, starts following it.
   *
   * A run whose row names another World as its one watcher gets no NOTIFY from that World's
   * appends (migration 11), so the read first marks the row as watched by others, under its
   * lock: an append that commits after the mark announces itself, and one that committed
   * before is in the tail the mark returns. A row already marked, or naming this World, or
   * none (every append notifies), is only read.
   */
  private async readTail(runId: string): Promise<WatchedTail> {
    const generation = this.notifications.listeningGeneration();
    const runs = this.db.tables.runs;
    const rows = await this.db.query<{ last_seq: number; status: RunStatus }>(
      `WITH marked AS (${this.db.markWatchedSql()} RETURNING last_seq, status)
       SELECT last_seq, status FROM marked
       UNION ALL
       SELECT last_seq, status FROM ${runs} WHERE run_id = $1 AND NOT EXISTS (SELECT FROM marked)`,
      [runId, this.db.watcherId],
    );
    if (rows.length === 0) throw new RunNotFoundError({ runId });
    const tail = { lastSeq: rows[0]!.last_seq, status: rows[0]!.status };
    if (generation !== undefined) this.notifications.tails.follow(runId, tail, generation);
    return tail;
  }
}
