import {
  type Clock,
  type CreateEventParams,
  type CreateEventRequest,
  type CreateEventResult,
  FenceConflictError,
  type World,
  WorldUnavailableError,
} from '@cairn/core/world';
import type { Activity } from './activity.js';
import type { Faults } from './faults.js';
import { InjectedFaultError } from './injected-fault-error.js';
import { WorldClockMismatchError } from './world-clock-mismatch-error.js';

export interface InstrumentOptions {
  activity: Activity;
  /** Faults apply to this view's writes (the workers'); the client's view has none. */
  faults?: Faults;
  /** Called when an armed crash fires on this view; the view is dead by then. */
  onCrash?: (stepName: string) => void;
  /** The environment's clock, which every stamp the World gives must come from. */
  clock: Clock;
  /** Called when the World stamps an event at a time the clock did not show while it wrote. */
  onClockMismatch: (error: WorldClockMismatchError) => void;
}

/** A view of the World for one client or worker, which the environment can kill to simulate a crash. */
export interface WorldView {
  world: World;
  /** From now on every call rejects, and live watches end: the process holding this view has died. */
  kill(): void;
}

/**
 * Wraps a World so the environment sees every call (for time skipping) and can inject
 * faults into writes. Reads and writes go through unchanged otherwise.
 */
export function instrumentWorld(raw: World, options: InstrumentOptions): WorldView {
  const { activity, faults } = options;
  const death = new AbortController();
  const dead = () =>
    new WorldUnavailableError({
      world: raw.name,
      location: 'a crashed worker',
      reason: 'the worker holding this connection crashed (simulated by @cairn/testing)',
    });
  const call = <Result>(work: () => Promise<Result>): Promise<Result> => {
    if (death.signal.aborted) return Promise.reject(dead());
    return activity.track(work);
  };
  const wrap =
    <Args extends unknown[], Result>(method: (...args: Args) => Promise<Result>) =>
    (...args: Args) =>
      call(() => method(...args));

  /**
   * A World on the environment's clock stamps each event at a time the clock showed during
   * the write (the clock never runs backwards, and a proposed stamp is accepted only at the
   * World's present). Anything else means the World reads a clock of its own.
   */
  const checkStamps = (result: CreateEventResult | CreateEventResult[], from: number) => {
    const to = options.clock.now();
    for (const { event } of Array.isArray(result) ? result : [result]) {
      if (event.createdAt < from || event.createdAt > to) {
        options.onClockMismatch(
          new WorldClockMismatchError({ world: raw.name, stampedAt: event.createdAt, clockRange: { from, to } }),
        );
        return;
      }
    }
  };

  const append = async <Result extends CreateEventResult | CreateEventResult[]>(
    runId: string | null,
    requests: readonly CreateEventRequest[],
    params: CreateEventParams | undefined,
    write: () => Promise<Result>,
  ): Promise<Result> => {
    if (faults) {
      const delayMs = faults.takeAppendDelay();
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (runId !== null && faults.takeFenceConflict(params?.lastKnownEventId !== undefined)) {
        throw await fenceConflict(raw, runId, params?.lastKnownEventId ?? null);
      }
      if (runId !== null) {
        const crashed = await faults.takeCrash(requests, async (stepId) =>
          raw.steps.get(runId, stepId).then(
            (step) => step.stepName,
            () => undefined,
          ),
        );
        if (crashed !== undefined) {
          death.abort();
          options.onCrash?.(crashed);
          throw new InjectedFaultError({
            fault: 'crashBeforeRecording',
            message: `Injected crash: the worker died before recording step "${crashed}"`,
          });
        }
      }
    }
    const from = options.clock.now();
    const result = await write();
    checkStamps(result, from);
    activity.sent(params?.enqueue ?? []);
    if (runId !== null) activity.appended(runId, requests);
    return result;
  };

  const world: World = {
    name: raw.name,
    capabilities: raw.capabilities,
    events: {
      create: (runId, request, params) =>
        call(() => append(runId, [request], params, () => raw.events.create(runId, request, params))),
      createBatch: (runId, requests, params) =>
        call(() => append(runId, requests, params, () => raw.events.createBatch(runId, requests, params))),
      list: wrap(raw.events.list.bind(raw.events)),
      get: wrap(raw.events.get.bind(raw.events)),
      // A watch waits for others' work; it is not work itself, so it is not counted.
      watch: (runId, afterSeq, signal) => {
        if (death.signal.aborted) return Promise.reject(dead());
        const both = signal ? AbortSignal.any([signal, death.signal]) : death.signal;
        return raw.events.watch(runId, afterSeq, both).then(() => {
          if (death.signal.aborted) throw dead();
        });
      },
    },
    runs: { get: wrap(raw.runs.get.bind(raw.runs)), list: wrap(raw.runs.list.bind(raw.runs)) },
    steps: { get: wrap(raw.steps.get.bind(raw.steps)), list: wrap(raw.steps.list.bind(raw.steps)) },
    hooks: {
      get: wrap(raw.hooks.get.bind(raw.hooks)),
      getByToken: wrap(raw.hooks.getByToken.bind(raw.hooks)),
      list: wrap(raw.hooks.list.bind(raw.hooks)),
    },
    waits: { get: wrap(raw.waits.get.bind(raw.waits)), list: wrap(raw.waits.list.bind(raw.waits)) },
    queue: {
      send: (topic, payload, sendOptions) =>
        call(async () => {
          const result = await raw.queue.send(topic, payload, sendOptions);
          if (!result.deduplicated)
            activity.sent([{ topic, payload, ...(sendOptions ? { options: sendOptions } : {}) }]);
          return result;
        }),
      consume: (topic, handler, consumeOptions) =>
        raw.queue.consume(
          topic,
          async (message, delivery) => {
            activity.delivered(message);
            try {
              if (death.signal.aborted) throw dead();
              await handler(message, delivery);
            } finally {
              activity.handled(message);
            }
          },
          consumeOptions,
        ),
    },
    streams: {
      write: wrap(raw.streams.write.bind(raw.streams)),
      close: wrap(raw.streams.close.bind(raw.streams)),
      list: wrap(raw.streams.list.bind(raw.streams)),
      read: (runId, name, readOptions) => raw.streams.read(runId, name, readOptions),
    },
    // The environment owns the World and closes it itself.
    close: async () => {},
  };
  return { world, kill: () => death.abort() };
}

/** The refusal a real lost race would produce: nothing written, the current tail named. */
async function fenceConflict(raw: World, runId: string, expectedEventId: string | null): Promise<FenceConflictError> {
  const run = await raw.runs.get(runId);
  const page = await raw.events.list(runId, { afterSeq: Math.max(0, run.lastSeq - 1), limit: 1 });
  const tail = page.data[0];
  return new FenceConflictError({
    runId,
    expectedEventId,
    currentTail: { eventId: tail?.eventId ?? '', seq: tail?.seq ?? 0 },
    reason: 'injected by the test environment (forceFenceConflicts)',
  });
}
