import { type Mock, vi } from 'vitest';
import {
  type ClaimOutcome,
  type DeliveryConsumer,
  type DeliveryControl,
  type DeliveryHandle,
  deliverLeased,
  type LeasedDelivery,
  type QueueHandler,
  WorldUnavailableError,
} from '../src/world/index.js';

/** A promise with its ends exposed, so a test decides when a handler or a write finishes. */
export function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A handler that holds its delivery until `finish()`, keeping the control it was given. */
export function hangingHandler() {
  const hang = deferred();
  let given: DeliveryControl | undefined;
  const handler: QueueHandler = (_message, delivery) => {
    given = delivery;
    return hang.promise;
  };
  return { handler, finish: () => hang.resolve(), control: () => given! };
}

export const unavailable = () => new WorldUnavailableError({ world: 'test', location: 'here', reason: 'down' });

export function consumerWith(handler: QueueHandler, overrides: Partial<DeliveryConsumer> = {}): DeliveryConsumer {
  return {
    handler,
    leaseMs: 1000,
    backoff: { initialMs: 100, factor: 2, maxMs: 30_000 },
    inFlight: 0,
    stopped: false,
    running: new Set(),
    ...overrides,
  };
}

/** Message `msg_1` as a store reads it, with no group. */
export function messageOf(attempt: number): LeasedDelivery['message'] {
  const fields = { messageId: 'msg_1', topic: 'jobs', payload: { n: 1 }, attempt, enqueuedAt: 10, deliverAt: 20 };
  return { ...fields, groupKey: null, idempotencyKey: 'key-1' };
}

/** A delivery `start` began: its World's side as mocks, and its handle. */
export interface StartedDelivery {
  settle: Mock<(outcome: ClaimOutcome) => Promise<boolean>>;
  extendLease: Mock<(leaseMs: number) => Promise<boolean>>;
  pump: Mock<() => void>;
  handle: DeliveryHandle;
}

/** Starts a delivery of message `msg_1` with a settlement and an extension that succeed unless replaced. */
export function start(consumer: DeliveryConsumer, overrides: Partial<LeasedDelivery> = {}): StartedDelivery {
  const settle = vi.fn(async (_outcome: ClaimOutcome) => true);
  const extendLease = vi.fn(async (_leaseMs: number) => true);
  const pump = vi.fn();
  const handle = deliverLeased({
    consumer,
    message: messageOf(1),
    settle,
    extendLease,
    pump,
    ...overrides,
  });
  return { settle, extendLease, pump, handle };
}

export const finished = (consumer: DeliveryConsumer) => Promise.all([...consumer.running]);
