import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { extendDeliveryClaim, settleDeliveryClaim } from '../src/world/index.js';
import { consumerWith, deferred, finished, hangingHandler, start, unavailable } from './leased-deliveries.js';

// A token of each test's own, as a World mints one per lease: the table of running
// deliveries is the process's, so no test may find another's delivery under its claim.
let tokens = 0;
const claimOf = () => ({ topic: 'jobs', messageId: 'msg_1', token: `lease-${++tokens}` });
const holds = async () => true;
const lost = async () => false;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('extendDeliveryClaim', () => {
  it('moves the lease timer of the running delivery that holds the claim, and its settlement is written', async () => {
    const { handler, finish } = hangingHandler();
    const consumer = consumerWith(handler);
    const claim = claimOf();
    const { settle } = start(consumer, { claim });
    await vi.advanceTimersByTimeAsync(500);
    const write = vi.fn(holds);
    await expect(extendDeliveryClaim(claim, 5000, write)).resolves.toBe(true);
    expect(write).toHaveBeenCalledOnce();
    await vi.advanceTimersByTimeAsync(4999);
    expect(consumer.inFlight).toBe(1);
    finish();
    await finished(consumer);
    expect(settle).toHaveBeenCalledExactlyOnceWith({ acknowledge: true });
    expect(consumer.inFlight).toBe(0);
  });

  it('keeps the slot while the store is extending the claim, and keeps the old deadline if it refuses', async () => {
    const { handler, finish } = hangingHandler();
    const consumer = consumerWith(handler);
    const claim = claimOf();
    start(consumer, { claim });
    await vi.advanceTimersByTimeAsync(0);
    const storeAnswer = deferred<boolean>();
    const extended = extendDeliveryClaim(claim, 5000, () => storeAnswer.promise);
    await vi.advanceTimersByTimeAsync(2000);
    expect(consumer.inFlight).toBe(1);
    storeAnswer.resolve(false);
    await expect(extended).resolves.toBe(false);
    await vi.advanceTimersByTimeAsync(0);
    expect(consumer.inFlight).toBe(0);
    finish();
  });

  it('keeps the timer stopped until the last of two extensions written at once is answered', async () => {
    const { handler, finish, control } = hangingHandler();
    const consumer = consumerWith(handler);
    const claim = claimOf();
    const handlerWrite = deferred<boolean>();
    start(consumer, { claim, extendLease: () => handlerWrite.promise });
    await vi.advanceTimersByTimeAsync(0);
    const byHandler = control().extendLease(300);
    const claimWrite = deferred<boolean>();
    const byClaim = extendDeliveryClaim(claim, 3000, () => claimWrite.promise);
    handlerWrite.resolve(true);
    await expect(byHandler).resolves.toBe(true);
    await vi.advanceTimersByTimeAsync(1500);
    expect(consumer.inFlight, 'the claim’s extension is still being written').toBe(1);
    claimWrite.resolve(true);
    await expect(byClaim).resolves.toBe(true);
    await vi.advanceTimersByTimeAsync(2999);
    expect(consumer.inFlight).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(consumer.inFlight).toBe(0);
    finish();
  });

  it('only writes a claim no running delivery holds: one that ran out, settled, or was never delivered', async () => {
    const { handler, finish } = hangingHandler();
    const consumer = consumerWith(handler);
    const lapsed = claimOf();
    start(consumer, { claim: lapsed });
    await vi.advanceTimersByTimeAsync(1000);
    expect(consumer.inFlight).toBe(0);
    const write = vi.fn(holds);
    await expect(extendDeliveryClaim(lapsed, 5000, write)).resolves.toBe(true);
    expect(write).toHaveBeenCalledOnce();
    expect(vi.getTimerCount(), 'no timer armed again for a delivery that gave up its slot').toBe(0);
    finish();
    await finished(consumer);

    const done = consumerWith(async () => {});
    const settledClaim = claimOf();
    start(done, { claim: settledClaim });
    await finished(done);
    await expect(extendDeliveryClaim(settledClaim, 5000, lost)).resolves.toBe(false);
    await expect(extendDeliveryClaim(claimOf(), 5000, holds)).resolves.toBe(true);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('reaches no delivery once it was abandoned', async () => {
    const { handler, finish } = hangingHandler();
    const consumer = consumerWith(handler);
    const claim = claimOf();
    const { handle } = start(consumer, { claim });
    await vi.advanceTimersByTimeAsync(0);
    handle.abandon();
    await expect(extendDeliveryClaim(claim, 5000, holds)).resolves.toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    expect(consumer.inFlight).toBe(1);
    finish();
  });

  it('moves the deadline a settlement’s retries are bounded by', async () => {
    const claim = claimOf();
    const calls: number[] = [];
    const consumer = consumerWith(async () => {}, { leaseMs: 200 });
    start(consumer, {
      claim,
      retryUnavailableSettlement: true,
      settle: async () => {
        calls.push(Date.now());
        if (calls.length === 1) await extendDeliveryClaim(claim, 5000, holds);
        if (calls.length < 6) throw unavailable();
        return true;
      },
    });
    await vi.runAllTimersAsync();
    await finished(consumer);
    // 50, 100, 200, 400 ms apart: far past the first lease of 200 ms, within the extension.
    expect(calls).toHaveLength(6);
    expect(consumer.inFlight).toBe(0);
  });
});

describe('settleDeliveryClaim', () => {
  it('ends the running delivery that holds the claim: its handler’s outcome writes nothing, its slot frees when it is done', async () => {
    const { handler, finish, control } = hangingHandler();
    const consumer = consumerWith(handler);
    const claim = claimOf();
    const { settle, extendLease, pump } = start(consumer, { claim });
    await vi.advanceTimersByTimeAsync(0);
    await expect(settleDeliveryClaim(claim, holds)).resolves.toBe(true);
    expect(consumer.inFlight, 'the handler still runs').toBe(1);
    await expect(control().extendLease()).resolves.toBe(false);
    const write = vi.fn(lost);
    await expect(extendDeliveryClaim(claim, 5000, write)).resolves.toBe(false);
    expect(write, 'the store still answers for the claim').toHaveBeenCalledOnce();
    finish();
    await finished(consumer);
    expect(settle).not.toHaveBeenCalled();
    expect(extendLease).not.toHaveBeenCalled();
    expect(consumer.inFlight).toBe(0);
    expect(pump).toHaveBeenCalledOnce();
  });

  it('writes nothing either when the handler then fails, and hands nothing back when it outruns the lease', async () => {
    const failingClaim = claimOf();
    const failing = consumerWith(async () => {
      await settleDeliveryClaim(failingClaim, holds);
      throw new Error('failed after settling its own claim');
    });
    const { settle } = start(failing, { claim: failingClaim });
    await finished(failing);
    expect(settle).not.toHaveBeenCalled();
    expect(failing.inFlight).toBe(0);

    const { handler, finish } = hangingHandler();
    const hung = consumerWith(handler);
    const hungClaim = claimOf();
    const leaseExpired = vi.fn();
    start(hung, { claim: hungClaim, leaseExpired });
    await vi.advanceTimersByTimeAsync(0);
    await settleDeliveryClaim(hungClaim, holds);
    await vi.advanceTimersByTimeAsync(1000);
    expect(hung.inFlight, 'a hung handler still gives its slot up').toBe(0);
    expect(leaseExpired).not.toHaveBeenCalled();
    finish();
  });

  it('leaves the delivery alone when the store did not settle the claim', async () => {
    const { handler, finish } = hangingHandler();
    const consumer = consumerWith(handler);
    const claim = claimOf();
    const { settle } = start(consumer, { claim });
    await vi.advanceTimersByTimeAsync(0);
    await expect(settleDeliveryClaim(claim, lost)).resolves.toBe(false);
    finish();
    await finished(consumer);
    expect(settle).toHaveBeenCalledExactlyOnceWith({ acknowledge: true });
  });
});
