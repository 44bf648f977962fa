import { resolve } from 'node:path';
import {
  type Clock,
  InvalidInputError,
  maxQueueDelayMs,
  parseInput,
  systemClock,
  type World,
  type WorldCapabilities,
  WorldClosedError,
} from '@cairn/core/world';
import { z } from 'zod';
import { LocalClaims } from './local-claims.js';
import { LocalEventLog } from './local-event-log.js';
import { LocalQueue } from './local-queue.js';
import { LocalStore } from './local-store.js';
import { LocalStreams } from './local-streams.js';
import { LocalViews } from './local-views.js';
import { createReadOnlyLocalWorld } from './read-only-world.js';

const localWorldOptionsSchema = z.strictObject({
  /** Directory holding the journal, snapshots and lock. Created if missing. */
  dir: z.string().min(1, 'must be a directory path'),
  /** Journal size that triggers compaction into a snapshot. Default 64 MiB. */
  checkpointBytes: z.number().int().min(1024).optional(),
  /** Largest event batch or queue payload, serialised. Default 16 MiB. */
  maxPayloadBytes: z.number().int().min(1024).optional(),
  /**
   * Roughly the most bytes one journal group or snapshot frame holds; concurrent writes
   * beyond it wait for the next group. Default 64 MiB.
   */
  maxGroupBytes: z.number().int().min(1024).optional(),
  /** Lease for consumers that do not pass `leaseMs`. Default 30 s. */
  defaultLeaseMs: z.number().int().min(10).optional(),
  /** How long an acknowledged message's idempotency key keeps deduplicating. Default 24 h. */
  idempotencyRetentionMs: z.number().int().min(0).optional(),
  /**
   * Open without the lock and never write: follow a directory another process may hold
   * (read-only-store.ts). Every write rejects with `WorldUnavailableError`. Default false.
   */
  readOnly: z.boolean().optional(),
  /** With `readOnly`: how often waiting readers (watch, live streams) look for new writes. Default 200 ms. */
  pollIntervalMs: z.number().int().min(10).optional(),
  /** Checked by hand below: a schema cannot describe an object with methods well. */
  clock: z.unknown().optional(),
});
export type LocalWorldOptions = Omit<z.input<typeof localWorldOptionsSchema>, 'clock'> & {
  /**
   * The World's clock: it stamps `createdAt` and judges when delayed messages fall due.
   * Default `systemClock`. A test passes a virtual clock here and to its workers, so time
   * moves when the test says (see `@cairn/testing`). Leases stay on real time.
   */
  clock?: Clock;
};

export interface LocalWorld extends World {
  /** Opens the directory now instead of on first use, to surface a lock or corruption error early. */
  open(): Promise<void>;
}

/**
 * The embedded World: everything in one directory on local disk, no server.
 *
 * - Durable: a write resolves only after its journal group is fsync'd; a torn tail from a
 *   crash is cut off on open; snapshots are written to a temp file and renamed.
 * - One process per directory: a second process (or a second World in this process) gets
 *   `WorldUnavailableError`; a directory whose holder died is taken over.
 * - State lives in memory (rebuilt from the journal on open), so the dataset should fit in RAM.
 *
 * The directory is opened lazily on first use; call `open()` to do it eagerly.
 */
export function createLocalWorld(options: LocalWorldOptions): LocalWorld {
  const parsed = parseInput(localWorldOptionsSchema, options, 'options');
  const clock = (parsed.clock ?? systemClock) as Clock;
  if (typeof clock.now !== 'function' || typeof clock.schedule !== 'function') {
    throw new InvalidInputError({ field: 'options.clock', value: clock, reason: 'must have now() and schedule()' });
  }
  const directory = resolve(parsed.dir);
  const name = `local:${directory}`;
  const maxPayloadBytes = parsed.maxPayloadBytes ?? 16 * 1024 * 1024;
  const capabilities: WorldCapabilities = {
    sharedAcrossProcesses: false,
    durability: 'fsync',
    maxPayloadBytes,
    maxFutureCreatedAtMs: 10_000,
    notifications: 'push',
    uniqueDeliveryIds: true,
    queue: {
      maxDelayMs: maxQueueDelayMs,
      defaultLeaseMs: parsed.defaultLeaseMs ?? 30_000,
      idempotencyRetentionMs: parsed.idempotencyRetentionMs ?? 24 * 60 * 60 * 1000,
      claims: true,
    },
    streams: { maxChunkBytes: Math.min(maxPayloadBytes, 4 * 1024 * 1024), closedWithRun: true },
  };
  if (parsed.readOnly) {
    const pollIntervalMs = parsed.pollIntervalMs ?? 200;
    return createReadOnlyLocalWorld({ directory, name, capabilities, maxPayloadBytes, pollIntervalMs });
  }
  const store = new LocalStore({
    directory,
    worldName: name,
    checkpointBytes: parsed.checkpointBytes ?? 64 * 1024 * 1024,
    idempotencyRetentionMs: capabilities.queue.idempotencyRetentionMs,
    maxGroupBytes: parsed.maxGroupBytes ?? 64 * 1024 * 1024,
    clock,
  });
  const queue = new LocalQueue(store, { ...capabilities.queue, maxPayloadBytes }, clock);
  const claims = new LocalClaims(store, queue, clock);
  const streams = new LocalStreams(store, capabilities.streams.maxChunkBytes, clock);
  const events = new LocalEventLog(store, maxPayloadBytes, capabilities.maxFutureCreatedAtMs, claims, streams, clock);
  const views = new LocalViews(store);

  let opening: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  const open = () => {
    if (closing) return Promise.reject(new WorldClosedError({ world: name }));
    opening ??= store.open().then(() => queue.hydrate());
    return opening;
  };
  /** Wraps an async method so the first call anywhere opens the directory. */
  const opened =
    <Args extends unknown[], Result>(method: (...args: Args) => Promise<Result>) =>
    async (...args: Args): Promise<Result> => {
      await open();
      return method(...args);
    };
  const bindAll = <Target extends object>(target: Target, methods: (keyof Target)[]) =>
    Object.fromEntries(
      methods.map((method) => [
        method,
        opened((target[method] as (...args: unknown[]) => Promise<unknown>).bind(target)),
      ]),
    );

  return {
    name,
    capabilities,
    open,
    events: bindAll(events, ['create', 'createBatch', 'list', 'get', 'watch']) as unknown as World['events'],
    runs: bindAll(views.runs, ['get', 'list']) as unknown as World['runs'],
    steps: bindAll(views.steps, ['get', 'list']) as unknown as World['steps'],
    hooks: bindAll(views.hooks, ['get', 'getByToken', 'list']) as unknown as World['hooks'],
    waits: bindAll(views.waits, ['get', 'list']) as unknown as World['waits'],
    queue: {
      send: opened(queue.send.bind(queue)),
      consume: (topic, handler, consumeOptions) => {
        if (closing) throw new WorldClosedError({ world: name });
        const consumer = queue.consume(topic, handler, consumeOptions);
        // Delivery starts once the directory is open; an open failure surfaces on the next async call.
        open().catch(() => {});
        return consumer;
      },
      extendClaim: opened(claims.extendClaim.bind(claims)),
      settleClaim: opened(claims.settleClaim.bind(claims)),
    },
    streams: {
      write: opened(streams.write.bind(streams)),
      close: opened(streams.close.bind(streams)),
      list: opened(streams.list.bind(streams)),
      read: (runId, streamName, readOptions) => {
        const iterable = streams.read(runId, streamName, readOptions);
        return {
          async *[Symbol.asyncIterator]() {
            await open();
            yield* iterable;
          },
        };
      },
    },
    close: () => {
      closing ??= (async () => {
        if (!opening) return;
        await opening.catch(() => {});
        // Live waits end first (watches reject, stream reads finish), so a handler parked in
        // one cannot keep close() waiting; then consumers drain, and their handlers may still
        // write; then the store flushes and lets go of the directory.
        store.beginClosing();
        streams.wakeAll();
        await queue.close();
        await store.close();
        streams.wakeAll();
      })();
      return closing;
    },
  };
}
