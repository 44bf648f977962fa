import {
  idSchema,
  parseInput,
  RunNotFoundError,
  readStreamOptionsSchema,
  type StreamChunk,
  streamNameSchema,
  systemClock,
  type WorldCapabilities,
  WorldClosedError,
  WorldUnavailableError,
} from '@cairn/core/world';
import type { LocalClaims } from './local-claims.js';
import { LocalEventLog } from './local-event-log.js';
import type { LocalStore } from './local-store.js';
import { LocalStreams } from './local-streams.js';
import { LocalViews } from './local-views.js';
import type { LocalWorld } from './local-world.js';
import { ReadOnlyStore } from './read-only-store.js';

export interface ReadOnlyWorldOptions {
  directory: string;
  name: string;
  capabilities: WorldCapabilities;
  maxPayloadBytes: number;
  pollIntervalMs: number;
}

/**
 * world-local opened with `readOnly: true`: every read of the World contract, served from a
 * `ReadOnlyStore` that follows the directory without its lock, and every write refused with
 * `WorldUnavailableError`. Operator tools (the CLI, the dashboard) use it to look at a
 * directory while a worker holds it.
 */
export function createReadOnlyLocalWorld(options: ReadOnlyWorldOptions): LocalWorld {
  const { directory, name, maxPayloadBytes, pollIntervalMs } = options;
  const capabilities: WorldCapabilities = { ...options.capabilities, notifications: 'poll' };
  const store = new ReadOnlyStore({ directory, worldName: name, pollIntervalMs });
  // The read paths below touch only what ReadOnlyStore provides; the write paths, which
  // would use the rest of LocalStore, are never reached (writes are refused up front).
  store satisfies Pick<
    LocalStore,
    'state' | 'settled' | 'isClosed' | 'isClosing' | 'assertNotClosing' | 'afterCommitListeners' | 'submit'
  >;
  const asStore = store as unknown as LocalStore;
  const views = new LocalViews(asStore);
  const streams = new LocalStreams(asStore, capabilities.streams.maxChunkBytes, systemClock);
  const events = new LocalEventLog(
    asStore,
    maxPayloadBytes,
    capabilities.maxFutureCreatedAtMs,
    {} as LocalClaims,
    streams,
    // Nothing is written here, so nothing is stamped: the wall clock only satisfies the type.
    systemClock,
  );

  let opening: Promise<void> | undefined;
  let closed = false;
  const open = () => {
    if (closed) return Promise.reject(new WorldClosedError({ world: name }));
    opening ??= store.open();
    return opening;
  };
  const opened =
    <Args extends unknown[], Result>(method: (...args: Args) => Promise<Result>) =>
    async (...args: Args): Promise<Result> => {
      await open();
      return method(...args);
    };
  const refused = (): WorldUnavailableError =>
    new WorldUnavailableError({
      world: name,
      location: directory,
      reason: 'it was opened read-only; writes must go through the process that holds the directory',
    });
  const refuse = async (): Promise<never> => {
    throw refused();
  };

  /** Live reads wait on the store's poll, since no write in this process wakes them. */
  async function* follow(runId: string, streamName: string, fromIndex: number, signal: AbortSignal | undefined) {
    await open();
    await store.settled();
    if (!store.state.runs.has(runId)) throw new RunNotFoundError({ runId });
    const startLength = store.state.stream(runId, streamName)?.chunks.length ?? 0;
    let next = fromIndex < 0 ? Math.max(0, startLength + fromIndex) : fromIndex;
    for (;;) {
      if (signal?.aborted || store.isClosed) return;
      await store.settled();
      const stream = store.state.stream(runId, streamName);
      if (stream && next < stream.chunks.length) {
        const chunk = stream.chunks[next]!;
        next += 1;
        yield {
          index: chunk.index,
          data: typeof chunk.data === 'string' ? chunk.data : new Uint8Array(chunk.data),
          createdAt: chunk.createdAt,
        } satisfies StreamChunk;
        continue;
      }
      if (stream?.closed) return;
      await new Promise<void>((resolve) => {
        const wake = () => {
          store.afterCommitListeners.delete(wake);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        store.afterCommitListeners.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }

  return {
    name,
    capabilities,
    open,
    events: {
      create: refuse,
      createBatch: refuse,
      list: opened(events.list.bind(events)),
      get: opened(events.get.bind(events)),
      watch: opened(events.watch.bind(events)),
    },
    runs: { get: opened(views.runs.get), list: opened(views.runs.list) },
    steps: { get: opened(views.steps.get), list: opened(views.steps.list) },
    hooks: { get: opened(views.hooks.get), getByToken: opened(views.hooks.getByToken), list: opened(views.hooks.list) },
    waits: { get: opened(views.waits.get), list: opened(views.waits.list) },
    queue: {
      send: refuse,
      consume: () => {
        throw refused();
      },
      // Settling a claim is a write too: the holder's process is the only one with leases.
      extendClaim: refuse,
      settleClaim: refuse,
    },
    streams: {
      write: refuse,
      close: refuse,
      list: opened(streams.list.bind(streams)),
      read: (runId, streamName, readOptions) => {
        parseInput(idSchema, runId, 'runId');
        parseInput(streamNameSchema, streamName, 'name');
        const { fromIndex = 0, signal } = parseInput(readStreamOptionsSchema, readOptions, 'options') ?? {};
        return follow(runId, streamName, fromIndex, signal);
      },
    },
    close: async () => {
      if (closed) return;
      closed = true;
      if (opening) await opening.catch(() => {});
      await store.close();
    },
  };
}
