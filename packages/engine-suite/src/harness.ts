import { type Client, createClient, createWorker, type Worker, type WorkflowDefinition } from '@cairn/core';
import type { ClaimOutcome, CreateEventParams, World } from '@cairn/core/world';

export interface EngineSuiteOptions {
  /** Shown in test titles. */
  name: string;
  /** A fresh, empty World per call. */
  createWorld: () => World | Promise<World>;
}

export interface Harness {
  /** The suite's World, wrapped so tests can see what the engine did with it. */
  world: RecordingWorld;
  client: Client;
  /** Workers started so far; all stopped by `close`. */
  workers: Worker[];
  startWorker(options: {
    workflows: WorkflowDefinition<never, unknown>[];
    runLease?: boolean;
    concurrency?: number;
    orchestrationLeaseMs?: number;
    /** The worker's own clock, to give it skew against the World. */
    clock?: () => number;
  }): Promise<Worker>;
  close(): Promise<void>;
}

/** A World, a client and a way to start workers; `close` tears all of it down. */
export async function openHarness(options: EngineSuiteOptions, runLease = true): Promise<Harness> {
  const world = recordingWorld(await options.createWorld());
  const client = createClient({ world, runLease });
  const workers: Worker[] = [];
  return {
    world,
    client,
    workers,
    async startWorker({ workflows, runLease: lease = runLease, concurrency, orchestrationLeaseMs, clock }) {
      const worker = createWorker({
        world,
        // biome-ignore lint/suspicious/noExplicitAny: the harness accepts workflows of any shape.
        workflows: workflows as WorkflowDefinition<any, any>[],
        runLease: lease,
        ...(concurrency === undefined ? {} : { concurrency }),
        ...(orchestrationLeaseMs === undefined ? {} : { orchestrationLeaseMs }),
        ...(clock === undefined ? {} : { clock }),
      });
      await worker.start();
      workers.push(worker);
      return worker;
    },
    async close() {
      await Promise.all(workers.map((worker) => worker.stop()));
      await world.close();
    },
  };
}

/** Polls `probe` until it returns a value other than undefined; for conditions with no event to await. */
export async function eventually<Value>(
  probe: () => Promise<Value | undefined>,
  timeoutMs: number,
  what: string,
): Promise<Value> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A promise with its resolver outside: lets a test release a step body exactly when it wants. */
export function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

export interface RecordedCall {
  method: 'create' | 'createBatch';
  runId: string | null;
  eventTypes: string[];
  fenced: boolean;
  /** The append proposed its own `createdAt` rather than leaving the stamp to the World. */
  stamped: boolean;
  /** How many claims the append acknowledged (`CreateEventParams.acknowledge`). */
  acknowledged: number;
  /** How many of its messages were asked to be queued claimed (`EnqueueRequest.claim`). */
  claimed: number;
  /** Set once the World answered with the append committed; a refused attempt stays false. */
  committed: boolean;
}

export interface RecordingWorld extends World {
  calls: RecordedCall[];
  /** Sum of events returned by events.list: what replays read back. */
  eventsRead: number;
  sends: { topic: string; payload: unknown }[];
  /** Queue deliveries whose handler has settled, in settling order. */
  deliveries: { topic: string; payload: unknown; attempt: number; outcome: 'acknowledged' | 'failed' }[];
  runsGetCalls: number;
  /** Every `runs.get` and `events.list`, in calling order: what the engine reads back. */
  reads: { method: 'runs.get' | 'events.list'; runId: string }[];
  /** The World underneath, for a test's own reads that must not be recorded. */
  inner: World;
  /** Every `events.watch` call, in calling order. */
  watches: { runId: string; afterSeq: number }[];
  /** Runs before every append; a test injects races here (on the inner World, so it is not recorded). */
  beforeAppend?: (call: RecordedCall, inner: World) => Promise<void>;
  /**
   * Runs after an append committed, before its answer goes back. A throw here is what the
   * caller gets instead of the answer: a reply lost after the commit.
   */
  afterAppend?: (call: RecordedCall, inner: World) => Promise<void>;
  /** Runs before every direct `queue.send`; a test makes sends fail here. */
  beforeSend?: (topic: string, payload: unknown) => Promise<void>;
  /** Every `queue.extendClaim` and `queue.settleClaim`, in calling order, with what it resolved. */
  claimCalls: { method: 'extendClaim' | 'settleClaim'; outcome?: ClaimOutcome; held: boolean }[];
}

/**
 * Passes every call through to a real World and records the appends, reads and sends the
 * engine makes. A spy, not a mock: the World underneath does all the work.
 */
export function recordingWorld(inner: World): RecordingWorld {
  // Messages sent atomically with an append count as sends once the append commits.
  const recordEnqueued = (params: CreateEventParams | undefined) => {
    for (const message of params?.enqueue ?? [])
      recording.sends.push({ topic: message.topic, payload: message.payload });
  };
  const recording: RecordingWorld = {
    ...inner,
    calls: [],
    eventsRead: 0,
    sends: [],
    deliveries: [],
    runsGetCalls: 0,
    reads: [],
    inner,
    watches: [],
    claimCalls: [],
    events: {
      ...inner.events,
      create: async (runId, request, params) => {
        const call: RecordedCall = {
          method: 'create',
          runId,
          eventTypes: [request.eventType],
          fenced: params?.lastKnownEventId !== undefined,
          stamped: params?.createdAt !== undefined,
          acknowledged: params?.acknowledge?.length ?? 0,
          claimed: params?.enqueue?.filter((message) => message.claim !== undefined).length ?? 0,
          committed: false,
        };
        await recording.beforeAppend?.(call, inner);
        recording.calls.push(call);
        const result = await inner.events.create(runId, request, params);
        call.committed = true;
        recordEnqueued(params);
        await recording.afterAppend?.(call, inner);
        return result;
      },
      createBatch: async (runId, requests, params) => {
        const call: RecordedCall = {
          method: 'createBatch',
          runId,
          eventTypes: requests.map((request) => request.eventType),
          fenced: params?.lastKnownEventId !== undefined,
          stamped: params?.createdAt !== undefined,
          acknowledged: params?.acknowledge?.length ?? 0,
          claimed: params?.enqueue?.filter((message) => message.claim !== undefined).length ?? 0,
          committed: false,
        };
        await recording.beforeAppend?.(call, inner);
        recording.calls.push(call);
        const results = await inner.events.createBatch(runId, requests, params);
        call.committed = true;
        recordEnqueued(params);
        await recording.afterAppend?.(call, inner);
        return results;
      },
      list: async (runId, options) => {
        recording.reads.push({ method: 'events.list', runId });
        const page = await inner.events.list(runId, options);
        recording.eventsRead += page.data.length;
        return page;
      },
      get: (runId, eventId) => inner.events.get(runId, eventId),
      watch: (runId, afterSeq, signal, options) => {
        recording.watches.push({ runId, afterSeq });
        return inner.events.watch(runId, afterSeq, signal, options);
      },
    },
    runs: {
      ...inner.runs,
      get: (runId) => {
        recording.runsGetCalls += 1;
        recording.reads.push({ method: 'runs.get', runId });
        return inner.runs.get(runId);
      },
      list: (options) => inner.runs.list(options),
    },
    queue: {
      send: async (topic, payload, options) => {
        await recording.beforeSend?.(topic, payload);
        recording.sends.push({ topic, payload });
        return inner.queue.send(topic, payload, options);
      },
      consume: (topic, handler, options) =>
        inner.queue.consume(
          topic,
          async (message, delivery) => {
            const settled = (outcome: 'acknowledged' | 'failed') =>
              recording.deliveries.push({ topic, payload: message.payload, attempt: message.attempt, outcome });
            try {
              await handler(message, delivery);
            } catch (error) {
              settled('failed');
              throw error;
            }
            settled('acknowledged');
          },
          options,
        ),
      // Claims pass through only where the World has them, so the engine sees what it would.
      ...(inner.queue.extendClaim === undefined
        ? {}
        : {
            extendClaim: async (claim, leaseMs) => {
              const held = await inner.queue.extendClaim!(claim, leaseMs);
              recording.claimCalls.push({ method: 'extendClaim', held });
              return held;
            },
          }),
      ...(inner.queue.settleClaim === undefined
        ? {}
        : {
            settleClaim: async (claim, outcome) => {
              const held = await inner.queue.settleClaim!(claim, outcome);
              recording.claimCalls.push({ method: 'settleClaim', outcome, held });
              return held;
            },
          }),
    },
    close: () => inner.close(),
  };
  return recording;
}

/** Every event of a run, in order. */
export async function allEvents(world: World, runId: string) {
  const events = [];
  for (let hasMore = true; hasMore; ) {
    const page = await world.events.list(runId, { afterSeq: events.length, limit: 1000 });
    events.push(...page.data);
    hasMore = page.hasMore;
  }
  return events;
}
