import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type DeliveryConsumer,
  type DeliveryControl,
  InvalidInputError,
  type QueueMessage,
  retryBackoffMs,
} from '../src/world/index.js';
import {
  consumerWith,
  deferred,
  finished,
  hangingHandler,
  messageOf,
  start,
  unavailable,
} from './leased-deliveries.js';

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('retryBackoffMs', () => {
  it('gives whole milliseconds up to maxMs, however many attempts, and stays 0 from an initial 0', () => {
    expect(retryBackoffMs({ initialMs: 5, factor: 1.5, maxMs: 1000 }, 2)).toBe(7);
    expect(retryBackoffMs({ initialMs: 100, factor: 2, maxMs: 30_000 }, 3)).toBe(400);
    expect(retryBackoffMs({ initialMs: 100, factor: 2, maxMs: 30_000 }, 50)).toBe(30_000);
    expect(retryBackoffMs({ initialMs: 1, factor: 1e10, maxMs: 5000 }, 5000)).toBe(5000);
    expect(retryBackoffMs({ initialMs: 0, factor: 1e10, maxMs: 1000 }, 5000)).toBe(0);
  });
});

describe('deliverLeased', () => {
  it('hands the handler the message without the keys it lacks, and acknowledges when it resolves', async () => {
    const seen: QueueMessage[] = [];
    const consumer = consumerWith(async (message) => {
      seen.push(message);
    });
    const { settle } = start(consumer);
    expect(consumer.inFlight).toBe(1);
    await finished(consumer);
    expect(seen).toEqual([
      {
        messageId: 'msg_1',
        topic: 'jobs',
        payload: { n: 1 },
        attempt: 1,
        idempotencyKey: 'key-1',
        enqueuedAt: 10,
        deliverAt: 20,
      },
    ]);
    expect('groupKey' in seen[0]!).toBe(false);
    expect(settle).toHaveBeenCalledExactlyOnceWith({ acknowledge: true });
    expect(consumer.inFlight).toBe(0);
    expect(consumer.running.size).toBe(0);
  });

  it('releases a throwing handler after the backoff of its attempt, capped at maxMs', async () => {
    const failing = () => {
      throw new Error('boom');
    };
    const third = consumerWith(failing);
    const { settle } = start(third, { message: messageOf(3) });
    await finished(third);
    expect(settle).toHaveBeenCalledExactlyOnceWith({ retryAfterMs: 400 });

    const late = consumerWith(failing);
    const { settle: lateSettle } = start(late, { message: messageOf(20) });
    await finished(late);
    expect(lateSettle).toHaveBeenCalledExactlyOnceWith({ retryAfterMs: 30_000 });

    const own = consumerWith(failing);
    const { settle: ownSettle } = start(own, { message: messageOf(3), retryAfterMs: 7 });
    await finished(own);
    expect(ownSettle).toHaveBeenCalledExactlyOnceWith({ retryAfterMs: 7 });
  });

  it('frees the slot when the lease runs out though the handler hangs, and skips the late settlement', async () => {
    const { handler, finish } = hangingHandler();
    const consumer = consumerWith(handler);
    const leaseExpired = vi.fn();
    const { settle, pump } = start(consumer, { leaseExpired });
    await vi.advanceTimersByTimeAsync(999);
    expect(consumer.inFlight).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(consumer.inFlight).toBe(0);
    expect(pump).toHaveBeenCalledOnce();
    expect(leaseExpired).toHaveBeenCalledOnce();
    finish();
    await finished(consumer);
    expect(settle).not.toHaveBeenCalled();
    expect(consumer.inFlight).toBe(0);
    expect(pump).toHaveBeenCalledOnce();
  });

  it('moves the lease timer when the handler extends the lease', async () => {
    const { handler, finish, control } = hangingHandler();
    const consumer = consumerWith(handler);
    const { extendLease } = start(consumer);
    await vi.advanceTimersByTimeAsync(500);
    await expect(control().extendLease(5000)).resolves.toBe(true);
    expect(extendLease).toHaveBeenCalledExactlyOnceWith(5000);
    await vi.advanceTimersByTimeAsync(4999);
    expect(consumer.inFlight).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(consumer.inFlight).toBe(0);
    await expect(control().extendLease()).resolves.toBe(false);
    expect(extendLease).toHaveBeenCalledOnce();
    finish();
  });

  it('keeps the slot while the store is extending the lease, and keeps the old deadline if it refuses', async () => {
    const { handler, finish, control } = hangingHandler();
    const consumer = consumerWith(handler);
    const storeAnswer = deferred<boolean>();
    start(consumer, { extendLease: () => storeAnswer.promise });
    await vi.advanceTimersByTimeAsync(0);
    const extended = control().extendLease();
    await vi.advanceTimersByTimeAsync(2000);
    expect(consumer.inFlight).toBe(1);
    storeAnswer.resolve(false);
    await expect(extended).resolves.toBe(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(consumer.inFlight).toBe(0);
    finish();
  });

  it('refuses an extension once settling started or the delivery settled, and validates leaseMs first', async () => {
    const write = deferred<boolean>();
    let control!: DeliveryControl;
    const consumer = consumerWith(async (_message, delivery) => {
      control = delivery;
    });
    const { extendLease } = start(consumer, { settle: () => write.promise });
    await vi.advanceTimersByTimeAsync(0);
    await expect(control.extendLease()).resolves.toBe(false);
    write.resolve(true);
    await finished(consumer);
    await expect(control.extendLease(1000)).resolves.toBe(false);
    await expect(control.extendLease(5)).rejects.toThrow(InvalidInputError);
    expect(extendLease).not.toHaveBeenCalled();
  });

  it('frees the slot only once the settlement is written, unless asked to free it first', async () => {
    const write = deferred<boolean>();
    const consumer = consumerWith(async () => {});
    start(consumer, { settle: () => write.promise });
    await vi.advanceTimersByTimeAsync(0);
    expect(consumer.inFlight).toBe(1);
    write.resolve(true);
    await finished(consumer);
    expect(consumer.inFlight).toBe(0);

    const early = consumerWith(async () => {});
    const earlyWrite = deferred<boolean>();
    start(early, { settle: () => earlyWrite.promise, freeSlotBeforeSettling: true });
    await vi.advanceTimersByTimeAsync(0);
    expect(early.inFlight).toBe(0);
    earlyWrite.resolve(true);
    await finished(early);
    expect(early.inFlight).toBe(0);
  });

  it('pumps a saturated consumer once when a slot frees, and one that tracks no saturation every time', async () => {
    const idle = consumerWith(async () => {}, { saturated: false });
    const { pump: idlePump } = start(idle);
    await finished(idle);
    expect(idlePump).not.toHaveBeenCalled();

    const full = consumerWith(async () => {}, { saturated: true });
    const inFlightWhenPumped: number[] = [];
    const fullPump = vi.fn(() => inFlightWhenPumped.push(full.inFlight));
    start(full, { pump: fullPump });
    start(full, { pump: fullPump });
    await finished(full);
    expect(fullPump).toHaveBeenCalledOnce();
    expect(inFlightWhenPumped).toEqual([1]);
    expect(full.saturated).toBe(false);

    const untracked = consumerWith(async () => {});
    const untrackedPump = vi.fn();
    start(untracked, { pump: untrackedPump });
    start(untracked, { pump: untrackedPump });
    await finished(untracked);
    expect(untrackedPump).toHaveBeenCalledTimes(2);
  });

  it('tries an unavailable store again while the lease holds, only when asked', async () => {
    const calls: number[] = [];
    const failTwice = async () => {
      calls.push(Date.now());
      if (calls.length <= 2) throw unavailable();
      return true;
    };
    const consumer = consumerWith(async () => {});
    const startedAt = Date.now();
    start(consumer, { settle: failTwice, retryUnavailableSettlement: true });
    await vi.advanceTimersByTimeAsync(149);
    expect(consumer.inFlight).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    await finished(consumer);
    expect(calls.map((at) => at - startedAt)).toEqual([0, 50, 150]);
    expect(consumer.inFlight).toBe(0);

    // Not asked: the first failure is the last.
    const once = vi.fn(async () => {
      throw unavailable();
    });
    const plain = consumerWith(async () => {});
    start(plain, { settle: once });
    await finished(plain);
    expect(once).toHaveBeenCalledOnce();
    expect(plain.inFlight).toBe(0);
  });

  it('gives up a settlement when the lease would run out, the consumer stopped, or the error is not unavailability', async () => {
    const settleTimes = async (consumer: DeliveryConsumer, error: () => unknown) => {
      const settle = vi.fn(async () => {
        throw error();
      });
      start(consumer, { settle, retryUnavailableSettlement: true });
      await vi.runAllTimersAsync();
      await finished(consumer);
      expect(consumer.inFlight).toBe(0);
      return settle.mock.calls.length;
    };
    // A 200 ms lease: tries at 0, 50 and 150 ms; the next pause (200 ms) would outlast it.
    const done = async () => {};
    expect(await settleTimes(consumerWith(done, { leaseMs: 200 }), unavailable)).toBe(3);
    expect(await settleTimes(consumerWith(done, { stopped: true }), unavailable)).toBe(1);
    expect(await settleTimes(consumerWith(done), () => new Error('constraint'))).toBe(1);
  });

  it('runs beforeHandler first and counts its failure as the handler failing', async () => {
    const handler = vi.fn(async () => {});
    const consumer = consumerWith(handler);
    const { settle } = start(consumer, { beforeHandler: () => Promise.reject(new Error('journal full')) });
    await finished(consumer);
    expect(handler).not.toHaveBeenCalled();
    expect(settle).toHaveBeenCalledExactlyOnceWith({ retryAfterMs: 100 });
  });

  it('abandons a lease: no timer, no settlement, no extension, the slot left as it was', async () => {
    const { handler, finish, control } = hangingHandler();
    const consumer = consumerWith(handler);
    const leaseExpired = vi.fn();
    const { settle, handle } = start(consumer, { leaseExpired });
    await vi.advanceTimersByTimeAsync(0);
    handle.abandon();
    expect(vi.getTimerCount()).toBe(0);
    await expect(control().extendLease()).resolves.toBe(false);
    finish();
    await finished(consumer);
    expect(settle).not.toHaveBeenCalled();
    expect(leaseExpired).not.toHaveBeenCalled();
    expect(consumer.inFlight).toBe(1);
  });
});

describe('deliverLeased: a lease an append acknowledged', () => {
  const claim = { topic: 'jobs', messageId: 'msg_1', token: 'lease-token-1' };

  it('writes no acknowledgement once the handler says an append settled its claim, and frees the slot', async () => {
    let given: DeliveryControl | undefined;
    const consumer = consumerWith(async (_message, delivery) => {
      given = delivery;
      delivery.acknowledgedByAppend?.();
    });
    const { settle, pump } = start(consumer, { claim });
    await finished(consumer);
    expect(given?.claim).toEqual(claim);
    expect(settle).not.toHaveBeenCalled();
    expect(consumer.inFlight).toBe(0);
    expect(pump).toHaveBeenCalledTimes(1);
  });

  it('still hands the message back when the handler rejects afterwards', async () => {
    const consumer = consumerWith(async (_message, delivery) => {
      delivery.acknowledgedByAppend?.();
      throw new Error('failed after the append');
    });
    const { settle } = start(consumer, { claim });
    await finished(consumer);
    expect(settle).toHaveBeenCalledWith({ retryAfterMs: 100 });
    expect(consumer.inFlight).toBe(0);
  });

  it('offers no claim where the World gives none, and acknowledges as usual', async () => {
    let given: DeliveryControl | undefined;
    const consumer = consumerWith(async (_message, delivery) => {
      given = delivery;
    });
    const { settle } = start(consumer);
    await finished(consumer);
    expect(given?.claim).toBeUndefined();
    expect(given?.acknowledgedByAppend).toBeUndefined();
    expect(settle).toHaveBeenCalledWith({ acknowledge: true });
  });
});
