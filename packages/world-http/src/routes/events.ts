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
   * again at once, so a new event is seen with no polling delay.
   */
  'events.watch': json('read', async (body, { world, signal, longPollMs }) => {
    const { runId, afterSeq, waitMs } = bodyFields(body, ['runId', 'afterSeq', 'waitMs']);
    const wait = Math.min(longPollMs, wholeNumber(waitMs ?? longPollMs, 'body.waitMs', 0, 3_600_000));
    const stop = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      stop.abort();
    }, wait);
    const onAbort = () => stop.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const tail = await world.events.watch(runId as never, afterSeq as never, stop.signal);
      const ready = !timedOut && !signal.aborted;
      // The tail the World learned with the wake-up, if it did, spares the caller a read.
      return ready && tail ? { ready, tail } : { ready };
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
    }
  }),
};
