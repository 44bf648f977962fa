import { isTerminalRunStatus, type WatchedTail, type WatchOptions, type World } from '@cairn/core/world';
import { bodyFields, wholeNumber } from '../wire.js';
import { json, type Route } from './route.js';

// Arguments pass to the World as they came: it validates them and names the bad field.
export const eventRoutes: Record<string, Route> = {
  'events.create': json('worker', (body, { world }) => {
    const { runId, request, params } = bodyFields(body, ['runId', 'request', 'params']);
    return world.events.create(runId as never, request as never, params as never);
  }),
  'events.createBatch': json('worker', (body, { world }) => {
    const { runId, requests, params } = bodyFields(body, ['runId', 'requests', 'params']);
    return world.events.createBatch(runId as never, requests as never, params as never);
  }),
  'events.list': json('read', (body, { world }) => {
    const { runId, options } = bodyFields(body, ['runId', 'options']);
    return world.events.list(runId as never, options as never);
  }),
  'events.get': json('read', (body, { world }) => {
    const { runId, eventId } = bodyFields(body, ['runId', 'eventId']);
    return world.events.get(runId as never, eventId as never);
  }),
  /**
   * Long-poll: answers `{ ready: true }` as soon as the log holds an event after `afterSeq`,
   * or `{ ready: false }` when `waitMs` (capped by the server) passes first. The client asks
   * again at once, so a new event is seen with no polling delay. With `options.untilEnded`
   * the server keeps waiting here, next to the World, past events that leave the run going,
   * so a caller waiting for a result crosses the network once rather than once per event.
   */
  'events.watch': json('read', async (body, { world, signal, longPollMs }) => {
    const { runId, afterSeq, waitMs, options } = bodyFields(body, ['runId', 'afterSeq', 'waitMs', 'options']);
    const wait = Math.min(longPollMs, wholeNumber(waitMs ?? longPollMs, 'body.waitMs', 0, 3_600_000));
    const stop = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stop.abort();
    }, wait);
    const onAbort = () => stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const stopped = () => timedOut || signal.aborted;
    try {
      // The World validates the options, and names a bad one.
      let tail = await world.events.watch(runId as never, afterSeq as never, stop.signal, options as never);
      if (stopped()) return { ready: false };
      if ((options as WatchOptions | undefined)?.untilEnded === true) {
        tail = await followUntilEnded(world, runId as string, tail ?? undefined, stop.signal, stopped);
        // The caller waits for the outcome: the ended run goes with the answer, read here
        // next to the World if it did not come with the tail, instead of across the network.
        if (isTerminalRunStatus(tail.status) && tail.run === undefined) {
          const run = await world.runs.get(runId as string);
          tail = { lastSeq: run.lastSeq, status: run.status, run };
        }
      }
      // The tail the World learned with the wake-up, if it did, spares the caller a read.
      return tail ? { ready: true, tail } : { ready: true };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }),
};

/**
 * Watches on past events until one ends the run or the long-poll is over, and returns the
 * newest tail seen. A World that reports no tail with its wake-ups is asked for the run:
 * here that read costs no network.
 */
async function followUntilEnded(
  world: World,
  runId: string,
  reported: WatchedTail | undefined,
  signal: AbortSignal,
  stopped: () => boolean,
): Promise<WatchedTail> {
  let tail = reported ?? (await readTail(world, runId));
  while (!isTerminalRunStatus(tail.status) && !stopped()) {
    let next: WatchedTail | undefined;
    try {
      next = (await world.events.watch(runId, tail.lastSeq, signal)) ?? undefined;
    } catch (error) {
      // A World may reject a watch its signal aborted; the caller still gets the tail so far.
      if (stopped()) break;
      throw error;
    }
    if (stopped()) break;
    tail = next ?? (await readTail(world, runId));
  }
  return tail;
}

async function readTail(world: World, runId: string): Promise<WatchedTail> {
  const { lastSeq, status } = await world.runs.get(runId);
  return { lastSeq, status };
}
