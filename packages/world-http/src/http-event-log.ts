import {
  type CreateEventParams,
  type CreateEventRequest,
  type CreateEventResult,
  type EventPage,
  isTerminalRunStatus,
  type ListEventsOptions,
  parseAppendInput,
  parseInput,
  type Run,
  runStatusSchema,
  type WatchedTail,
  type WatchOptions,
  type WorldCapabilities,
  type WorldEvent,
  type WorldEvents,
  WorldUnavailableError,
  watchOptionsSchema,
} from '@cairn/core/world';
import { z } from 'zod';
import { type HttpTransport, nextDelay, pause, serialise } from './http-transport.js';
import { survivesJson } from './json-fidelity.js';

/** How long one watch long-poll parks on the server before asking again. */
const watchWaitMs = 20_000;

/**
 * The event log over HTTP: every append is one round trip. The World behind the server
 * validates every append and its typed errors come back as they are, so an append that
 * reaches the server unchanged is not validated here again. Only one that JSON would change
 * on the way (a Date into a string, an undefined dropped) or that may be too large is
 * checked here first, with the contract's own validation.
 */
export class HttpEventLog implements WorldEvents {
  constructor(
    private readonly transport: HttpTransport,
    private readonly capabilities: WorldCapabilities,
  ) {}

  async create(runId: string | null, request: CreateEventRequest, params?: CreateEventParams) {
    this.transport.assertOpen();
    return this.transport.callWith<CreateEventResult>(
      'events.create',
      this.appendBody(runId, { request }, params, { runId, request, params }),
    );
  }

  async createBatch(runId: string | null, requests: readonly CreateEventRequest[], params?: CreateEventParams) {
    this.transport.assertOpen();
    return this.transport.callWith<CreateEventResult[]>(
      'events.createBatch',
      this.appendBody(runId, { requests }, params, { runId, requests, params }),
    );
  }

  /** The append's body as JSON, after the contract's checks if JSON would change it or it may be too large. */
  private appendBody(
    runId: string | null,
    input: { request: unknown } | { requests: unknown },
    params: CreateEventParams | undefined,
    body: object,
  ): string {
    const { maxPayloadBytes } = this.capabilities;
    const appended = 'request' in input ? input.request : input.requests;
    if (!survivesJson(runId) || !survivesJson(appended) || (params !== undefined && !survivesJson(params))) {
      parseAppendInput(runId, input, params, maxPayloadBytes);
    }
    const payload = serialise(body);
    // A UTF-16 code unit is at most 3 bytes of UTF-8: most bodies need no count.
    if (payload.length * 3 > maxPayloadBytes && Buffer.byteLength(payload) > maxPayloadBytes) {
      parseAppendInput(runId, input, params, maxPayloadBytes);
    }
    return payload;
  }

  list(runId: string, options?: ListEventsOptions): Promise<EventPage> {
    return this.transport.call('events.list', { runId, options });
  }

  get(runId: string, eventId: string): Promise<WorldEvent> {
    return this.transport.call('events.get', { runId, eventId });
  }

  /**
   * Long-polls until the server reports an event after `afterSeq`. Each answer comes the
   * moment the event commits; a lost connection is retried (quickly, then at most once a
   * second) until the signal aborts or the World closes.
   */
  async watch(
    runId: string,
    afterSeq: number,
    signal?: AbortSignal,
    options?: WatchOptions,
  ): Promise<WatchedTail | undefined> {
    parseInput(watchOptionsSchema, options, 'options');
    const stop = signal ? AbortSignal.any([signal, this.transport.live.signal]) : this.transport.live.signal;
    let delay = 0;
    for (;;) {
      this.transport.assertOpen();
      if (signal?.aborted) return;
      try {
        const { ready, tail } = await this.transport.call<{ ready: boolean; tail?: unknown }>(
          'events.watch',
          { runId, afterSeq, waitMs: watchWaitMs, ...(options === undefined ? {} : { options }) },
          { signal: stop },
        );
        if (ready) return reportedTail(runId, tail, afterSeq);
        delay = 0;
      } catch (error) {
        if (signal?.aborted) return;
        this.transport.assertOpen();
        if (!WorldUnavailableError.is(error)) throw error;
        delay = nextDelay(delay);
        await pause(delay, stop);
      }
    }
  }
}

/**
 * A tail the server reported, if it is one (past `afterSeq`, with a known status); else
 * nothing. An ended run that came with it is kept when it is that run at that tail; its
 * contents are the World's, trusted as `runs.get` trusts them.
 */
function reportedTail(runId: string, tail: unknown, afterSeq: number): WatchedTail | undefined {
  const parsed = watchedTailSchema.safeParse(tail);
  if (!parsed.success || parsed.data.lastSeq <= afterSeq) return undefined;
  const { lastSeq, status, run } = parsed.data;
  const matches =
    isTerminalRunStatus(status) && run?.runId === runId && run.lastSeq === lastSeq && run.status === status;
  return matches ? { lastSeq, status, run: run as unknown as Run } : { lastSeq, status };
}

const watchedTailSchema = z.strictObject({
  lastSeq: z.number().int(),
  status: runStatusSchema,
  run: z.looseObject({ runId: z.string(), lastSeq: z.number(), status: runStatusSchema }).optional(),
});
