import { RunFailedError } from '../errors/run-failed-error.js';
import { RunResultTimeoutError } from '../errors/run-result-timeout-error.js';
import { decode } from '../workflow/serialization.js';
import type { Run, RunStatus } from '../world/schemas/entities.js';
import { isTerminalRunStatus } from '../world/schemas/entities.js';
import type { WorldEvent } from '../world/schemas/events.js';
import type { WatchedTail, World } from '../world/world.js';
import { checkTimeout } from './client-waits.js';

/** A handle on one run. Cheap to create; every method reads the World. */
export interface RunHandle<Output = unknown> {
  readonly id: string;
  status(): Promise<RunStatus>;
  /**
   * The run as the World has it now: status, times, output or error, and for a pending
   * run that a worker could not start, `waiting` (why: e.g. no worker that took it has its
   * workflow). Throws `RunNotFoundError`.
   */
  describe(): Promise<Run>;
  /**
   * Waits for a terminal status: resolves with the output, or rejects with
   * `RunFailedError` carrying the recorded failure (or the cancellation). Uses the World's
   * `events.watch`, so it does not busy-poll where the World can push.
   *
   * By default it waits as long as the run takes. With `timeoutMs`, it rejects with
   * `RunResultTimeoutError` (carrying the run's status at that moment) once that many
   * milliseconds pass; the run itself goes on. `signal` aborts the wait with its reason.
   */
  result(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<Output>;
  /** The run's whole log, in order. */
  events(): Promise<WorldEvent[]>;
  /**
   * Chunks of one of the run's streams (default `'default'`), from `fromIndex` (negative
   * counts back from the tail), following live until the stream closes, which it does when
   * the run ends. Text chunks come back as strings, binary ones as Uint8Array.
   */
  readable(name?: string, options?: { fromIndex?: number; signal?: AbortSignal }): AsyncIterable<string | Uint8Array>;
}

/**
 * A handle on run `id`. `created`: the tail of a run the caller just created, so waiting
 * for its result starts without a read.
 */
export function runHandle<Output>(world: World, id: string, created?: WatchedTail): RunHandle<Output> {
  return {
    id,
    status: async () => (await world.runs.get(id)).status,
    describe: () => world.runs.get(id),
    result: async (options = {}) => {
      const timeoutMs =
        options.timeoutMs === undefined ? undefined : checkTimeout(options.timeoutMs, 'options.timeoutMs');
      // One signal for the watch: the caller's abort or the timeout, whichever comes first.
      const stopWatching = new AbortController();
      const abort = () => stopWatching.abort();
      options.signal?.addEventListener('abort', abort, { once: true });
      let timedOut = false;
      const timer =
        timeoutMs === undefined || timeoutMs === Number.POSITIVE_INFINITY
          ? undefined
          : setTimeout(() => {
              timedOut = true;
              abort();
            }, timeoutMs);
      try {
        return await waitForEnd(options.signal);
      } finally {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', abort);
      }

      async function waitForEnd(signal: AbortSignal | undefined): Promise<Output> {
        // A watch that reports the new tail of a run still going saves the read: the loop
        // reads the run only when it may have ended (or the World said nothing).
        let watched: WatchedTail | undefined = created;
        for (;;) {
          if (watched !== undefined && !isTerminalRunStatus(watched.status) && !timedOut && !signal?.aborted) {
            watched = await watchAfter(watched.lastSeq);
            continue;
          }
          // A watch that saw the run end may hand over the ended run itself.
          const run =
            watched?.run !== undefined && isTerminalRunStatus(watched.status) ? watched.run : await world.runs.get(id);
          if (run.status === 'completed') return decode(run.output) as Output;
          if (run.status === 'failed' || run.status === 'cancelled') {
            throw new RunFailedError({
              runId: id,
              status: run.status,
              ...(run.error
                ? { failure: run.error }
                : run.cancelReason
                  ? { failure: { name: 'Cancelled', message: run.cancelReason } }
                  : {}),
            });
          }
          signal?.throwIfAborted();
          if (timedOut) {
            throw new RunResultTimeoutError({
              runId: id,
              workflowName: run.workflowName,
              timeoutMs: timeoutMs as number,
              status: run.status,
              ...(run.waiting === undefined ? {} : { waiting: run.waiting }),
            });
          }
          watched = await watchAfter(run.lastSeq);
        }
      }

      async function watchAfter(lastSeq: number): Promise<WatchedTail | undefined> {
        try {
          // Only the run's end matters here: a World far away may wait for it on its side.
          return (await world.events.watch(id, lastSeq, stopWatching.signal, { untilEnded: true })) ?? undefined;
        } catch (error) {
          // A World may reject an aborted watch instead of resolving it; the loop says why.
          if (!stopWatching.signal.aborted) throw error;
          return undefined;
        }
      }
    },
    readable: (name = 'default', options = {}) => {
      const chunks = world.streams.read(id, name, options);
      return {
        async *[Symbol.asyncIterator]() {
          for await (const chunk of chunks) yield chunk.data;
        },
      };
    },
    events: async () => {
      const events: WorldEvent[] = [];
      for (let hasMore = true; hasMore; ) {
        const page = await world.events.list(id, { afterSeq: events.length, limit: 1000 });
        events.push(...page.data);
        hasMore = page.hasMore;
      }
      return events;
    },
  };
}
