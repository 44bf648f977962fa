import { type CreateEventRequest, type World, type WorldQueue, WorldUnavailableError } from '@cairn/core/world';
import { overlay } from './overlay.js';
import { Random } from './random.js';
import { appendRecord } from './side-records.js';

export interface WorldFaults {
  /** Chance that a `queue.send`, or an append carrying `enqueue` messages, throws before writing anything. */
  failSendProbability: number;
  /** Each append waits up to this long (seeded) before it reaches the World. */
  delayAppendMaxMs: number;
}

export const noWorldFaults: WorldFaults = { failSendProbability: 0, delayAppendMaxMs: 0 };

const correlationIds = (requests: readonly CreateEventRequest[]): string[] =>
  requests.flatMap((request) => {
    const id = (request as { correlationId?: string }).correlationId;
    return id === undefined ? [] : [id];
  });

/**
 * Wraps a World so sends fail and appends lag the way a flaky network makes them. A failed
 * send throws `WorldUnavailableError` before the World sees it, so nothing was written:
 * exactly the transient refusal the engine must survive without stranding a run. Each
 * refusal is recorded in the side directory, because a refused completion may legitimately
 * cost the step one more execution.
 */
export function faultyWorld(inner: World, faults: WorldFaults, seed: number, sideDirectory: string): World {
  const consume = recordingDeliveries(inner.queue, sideDirectory);
  if (faults.failSendProbability === 0 && faults.delayAppendMaxMs === 0) {
    return overlay(inner, { queue: overlay(inner.queue, { consume }) });
  }
  const random = new Random(seed ^ process.pid);
  const refuse = (method: 'create' | 'createBatch' | 'send', runId: string | null, requests: CreateEventRequest[]) => {
    appendRecord(sideDirectory, 'faults', {
      pid: process.pid,
      method,
      runId,
      correlationIds: correlationIds(requests),
      eventTypes: requests.map((request) => request.eventType),
    });
    return new WorldUnavailableError({ world: inner.name, location: 'fuzz', reason: `injected ${method} failure` });
  };
  const delay = async () => {
    if (faults.delayAppendMaxMs > 0)
      await new Promise((resolve) => setTimeout(resolve, random.int(0, faults.delayAppendMaxMs)));
  };
  const failing = () => random.chance(faults.failSendProbability);
  // Everything else (reads, watches, claims, views, close) reaches the World untouched: a
  // pass taken without the queue still meets the delayed and refused appends.
  return overlay(inner, {
    events: overlay(inner.events, {
      create: async (runId, request, params) => {
        await delay();
        if ((params?.enqueue?.length ?? 0) > 0 && failing()) throw refuse('create', runId, [request]);
        return inner.events.create(runId, request, params);
      },
      createBatch: async (runId, requests, params) => {
        await delay();
        if ((params?.enqueue?.length ?? 0) > 0 && failing()) throw refuse('createBatch', runId, [...requests]);
        return inner.events.createBatch(runId, requests, params);
      },
    }),
    queue: overlay(inner.queue, {
      send: async (topic, payload, options) => {
        if (failing()) {
          const runId = (payload as { runId?: string } | null)?.runId ?? null;
          throw refuse('send', typeof runId === 'string' ? runId : null, []);
        }
        return inner.queue.send(topic, payload, options);
      },
      consume,
    }),
  });
}

/**
 * `queue.consume`, with each delivery's lease renewals watched: a renewal the World answers with
 * "lost" is recorded, naming the run the message was for. Each delivery's start and end
 * are recorded too, so a violation report shows which passes of a run overlapped.
 */
function recordingDeliveries(queue: WorldQueue, sideDirectory: string): WorldQueue['consume'] {
  return (topic, handler, options) =>
    queue.consume(
      topic,
      async (message, delivery) => {
        const payloadRunId = (message.payload as { runId?: unknown } | null)?.runId;
        const runId = typeof payloadRunId === 'string' ? payloadRunId : null;
        const start = Date.now();
        let outcome = 'ok';
        try {
          await handler(
            message,
            overlay(delivery, {
              extendLease: async (leaseMs) => {
                const kept = await delivery.extendLease(leaseMs);
                if (!kept)
                  appendRecord(sideDirectory, 'lease-losses', { pid: process.pid, topic, runId, at: Date.now() });
                return kept;
              },
            }),
          );
        } catch (error) {
          outcome = error instanceof Error ? error.name : 'thrown';
          throw error;
        } finally {
          appendRecord(sideDirectory, 'deliveries', {
            pid: process.pid,
            topic,
            runId,
            attempt: message.attempt,
            start,
            end: Date.now(),
            outcome,
          });
        }
      },
      options,
    );
}
