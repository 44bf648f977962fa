import {
  type AppendInput,
  type Clock,
  type CreateEventParams,
  type CreateEventRequest,
  type CreateEventResult,
  EventNotFoundError,
  type EventPage,
  FenceConflictError,
  idSchema,
  isTerminalRunStatus,
  type ListEventsOptions,
  limits,
  listEventsOptionsSchema,
  nextCommitStamp,
  parseAppendInput,
  parseInput,
  RunNotFoundError,
  seqSchema,
  type WatchOptions,
  type WorldEvent,
  type WorldEvents,
  watchAnswersAt,
  watchOptionsSchema,
} from '@cairn/core/world';
import type { LocalClaims } from './local-claims.js';
import type { RunRecord } from './local-records.js';
import type { LocalStore } from './local-store.js';
import type { LocalStreams } from './local-streams.js';

/** Last event committed strictly before `timestamp`; `createdAt` never decreases, so bisect. */
function tailBefore(events: readonly WorldEvent[], timestamp: number): WorldEvent | undefined {
  let low = 0;
  let high = events.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (events[middle]!.createdAt < timestamp) low = middle + 1;
    else high = middle;
  }
  return low === 0 ? undefined : events[low - 1];
}

/** Rejects a proposed `createdAt` that is in the past or too far ahead (see `CreateEventParams.createdAt`). */
function checkProposedTime(
  runId: string,
  record: RunRecord | undefined,
  createdAt: number,
  now: number,
  maxAheadMs: number,
) {
  if (createdAt >= now && createdAt <= now + maxAheadMs && createdAt >= (record?.run.updatedAt ?? 0)) return;
  throw new FenceConflictError({
    runId,
    expectedEventId: record?.run.lastEventId ?? null,
    currentTail: { eventId: record?.run.lastEventId ?? '(none)', seq: record?.run.lastSeq ?? 0 },
    reason: `proposed createdAt ${createdAt} is ${createdAt < now ? `${now - createdAt} ms in the past` : 'out of range'}`,
  });
}

export function checkFence(record: RunRecord, params: CreateEventParams | undefined): void {
  if (!params) return;
  let expected: string | null;
  if (params.lastKnownEventId !== undefined) expected = params.lastKnownEventId;
  else if (params.asOfTimestamp !== undefined)
    expected = tailBefore(record.events, params.asOfTimestamp)?.eventId ?? null;
  else return;
  const { lastEventId, lastSeq } = record.run;
  if (expected !== lastEventId) {
    throw new FenceConflictError({
      runId: record.run.runId,
      expectedEventId: expected,
      currentTail: { eventId: lastEventId, seq: lastSeq },
    });
  }
}

export class LocalEventLog implements WorldEvents {
  constructor(
    private readonly store: LocalStore,
    private readonly maxPayloadBytes: number,
    private readonly maxFutureCreatedAtMs: number,
    private readonly claims: LocalClaims,
    private readonly streams: Pick<LocalStreams, 'closeWithRun'>,
    private readonly clock: Clock,
  ) {}

  async create(runId: string | null, request: CreateEventRequest, params?: CreateEventParams) {
    const [result] = await this.append(parseAppendInput(runId, { request }, params, this.maxPayloadBytes));
    return result!;
  }

  async createBatch(runId: string | null, requests: readonly CreateEventRequest[], params?: CreateEventParams) {
    return this.append(parseAppendInput(runId, { requests }, params, this.maxPayloadBytes));
  }

  private append({ runId, requests, params, creates }: AppendInput): Promise<CreateEventResult[]> {
    return this.store.submit(() => {
      const record = this.store.state.runs.get(runId);
      if (record) checkFence(record, params);
      else if (!creates) throw new RunNotFoundError({ runId });
      const draft = this.store.state.draftFor(runId);
      let now = this.clock.now();
      if (params?.createdAt !== undefined) {
        checkProposedTime(runId, record, params.createdAt, now, this.maxFutureCreatedAtMs);
        now = params.createdAt;
      }
      const results = requests.map((request) => draft.apply(request, nextCommitStamp(draft.run, now)));
      const enqueue = params?.enqueue ?? [];
      // The last check that can refuse the append: nothing is changed before it.
      this.claims.checkChosenIds(enqueue);
      this.store.state.commitDraft(draft);
      // The outbox and the acknowledgements: staged in the same operation, so they are
      // journalled in the same group as the events and take effect if, and only if, the
      // events do.
      const outbox = this.claims.stageOutbox(enqueue);
      const acknowledged = this.claims.stageAcknowledgements(params?.acknowledge ?? []);
      // The append that ends the run closes its open streams (`streams.closedWithRun`). A batch
      // to an ended run is refused by the draft, so an ended run here is this batch's doing.
      const ended = draft.run !== undefined && isTerminalRunStatus(draft.run.status);
      const closed = ended ? this.streams.closeWithRun(runId, draft.run!.updatedAt) : undefined;
      // Callers get copies: the objects above are the World's own state.
      const copies: CreateEventResult[] = structuredClone(results);
      if (outbox.result.length > 0) {
        for (const copy of copies) copy.claims = outbox.result.map((claim) => ({ ...claim }));
      }
      return {
        result: copies,
        records: [
          { type: 'events', runId, events: draft.events },
          ...outbox.records,
          ...acknowledged.records,
          ...(closed?.records ?? []),
        ],
        afterCommit: () => {
          outbox.afterCommit?.();
          acknowledged.afterCommit();
          closed?.afterCommit();
        },
      };
    });
  }

  async list(runId: string, options?: ListEventsOptions): Promise<EventPage> {
    const { afterSeq = 0, limit = limits.defaultPageSize } =
      parseInput(listEventsOptionsSchema, options, 'options') ?? {};
    await this.store.settled();
    const events = this.runRecord(runId).events;
    // seq is dense and 1-based, so seq N sits at index N-1.
    const data = events.slice(afterSeq, afterSeq + limit);
    return { data: structuredClone(data), hasMore: afterSeq + data.length < events.length };
  }

  async get(runId: string, eventId: string): Promise<WorldEvent> {
    parseInput(idSchema, eventId, 'eventId');
    await this.store.settled();
    const events = this.runRecord(runId).events;
    const seq = Number(/^evt_(\d+)$/.exec(eventId)?.[1] ?? Number.NaN);
    const event = events[seq - 1];
    if (!event || event.eventId !== eventId) throw new EventNotFoundError({ runId, eventId });
    return structuredClone(event);
  }

  async watch(runId: string, afterSeq: number, signal?: AbortSignal, options?: WatchOptions): Promise<void> {
    parseInput(idSchema, runId, 'runId');
    parseInput(seqSchema, afterSeq, 'afterSeq');
    parseInput(watchOptionsSchema, options, 'options');
    for (;;) {
      // A World that is closing ends every wait, so close() never hangs on a watcher.
      this.store.assertNotClosing();
      await this.store.settled();
      const record = this.runRecord(runId);
      const answers = record.events.length > afterSeq && watchAnswersAt(options, record.run.status);
      if (answers || signal?.aborted) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.store.afterCommitListeners.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        this.store.afterCommitListeners.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }

  private runRecord(runId: string): RunRecord {
    parseInput(idSchema, runId, 'runId');
    const record = this.store.state.runs.get(runId);
    if (!record) throw new RunNotFoundError({ runId });
    return record;
  }
}
