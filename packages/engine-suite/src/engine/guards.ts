import nodeCrypto, { randomBytes, randomFillSync } from 'node:crypto';
import { now, replayRun, sleep, workflow } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type EngineSuiteOptions, type Harness, openHarness } from '../harness.js';

const hex = (bytes: ArrayBufferView) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

const randomSources = workflow('guards.random-sources', async () => {
  const draw = async () => ({
    web: hex(crypto.getRandomValues(new Uint8Array(7))),
    node: hex(nodeCrypto.getRandomValues(new Uint32Array(2))),
    bytes: randomBytes(9).toString('hex'),
    filled: randomFillSync(Buffer.alloc(8), 2, 4).toString('hex'),
    callback: await new Promise<string>((resolve, reject) =>
      randomBytes(5, (error, buffer) => (error ? reject(error) : resolve(buffer.toString('hex')))),
    ),
  });
  const before = await draw();
  await sleep('10ms');
  return { before, after: await draw() };
});

const clocks = workflow('guards.clocks', async () => {
  const read = () => ({
    now: now(),
    performance: performance.now(),
    hrtime: process.hrtime(),
    bigint: String(process.hrtime.bigint()),
  });
  const before = read();
  const elapsed = process.hrtime(before.hrtime);
  await sleep('20ms');
  const after = read();
  return { before, elapsed, after, since: process.hrtime(before.hrtime) };
});

const badSleep = workflow('guards.bad-sleep', async (kind: 'nan' | 'date') => {
  try {
    await (kind === 'nan' ? sleep(Number.NaN) : sleep(new Date(Number.NaN)));
    return 'slept';
  } catch (error) {
    return (error as Error).message;
  }
});

export function describeGuards(options: EngineSuiteOptions): void {
  describe(`${options.name}: determinism guards and user errors`, () => {
    let harness: Harness;
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await harness.close();
    });

    it('replays crypto.getRandomValues, randomBytes and randomFillSync from the run, identically on every replay', async () => {
      await harness.startWorker({ workflows: [randomSources] });
      const [first, second] = await Promise.all([
        harness.client.start(randomSources, undefined),
        harness.client.start(randomSources, undefined),
      ]);
      const result = await first.result({ timeoutMs: 20_000 });
      // Real bytes were drawn, with the untouched parts of the buffer left as they were.
      expect(result.before.bytes).toMatch(/^[0-9a-f]{18}$/);
      expect(result.before.filled.slice(0, 4)).toBe('0000');
      expect(result.before.filled.slice(12)).toBe('0000');
      expect(result.before).not.toEqual(result.after);
      // A cold replay of the log draws exactly the same bytes.
      expect(await replayRun(harness.world, randomSources, first.id)).toEqual({ status: 'completed', output: result });
      // Seeded per run: another run draws other bytes.
      expect((await second.result({ timeoutMs: 20_000 })).before.bytes).not.toBe(result.before.bytes);
      // Outside workflows they are the real thing.
      expect(randomBytes(8).equals(randomBytes(8))).toBe(false);
    });

    it('replays performance.now() and process.hrtime() as the replayed time, identically on every replay', async () => {
      await harness.startWorker({ workflows: [clocks] });
      const run = await harness.client.start(clocks, undefined);
      const result = await run.result({ timeoutMs: 20_000 });
      for (const reading of [result.before, result.after]) {
        // The Unix epoch is the origin: every clock says what now() says.
        expect(reading.performance).toBe(reading.now);
        expect(reading.hrtime[0] * 1000 + reading.hrtime[1] / 1e6).toBe(reading.now);
        expect(reading.bigint).toBe(String(BigInt(reading.now) * 1_000_000n));
      }
      // Time stands still within one reaction and moves with the log across the sleep.
      expect(result.elapsed).toEqual([0, 0]);
      const slept = result.after.now - result.before.now;
      expect(slept).toBeGreaterThanOrEqual(20);
      expect(result.since[0] * 1000 + result.since[1] / 1e6).toBe(slept);
      expect(await replayRun(harness.world, clocks, run.id)).toEqual({ status: 'completed', output: result });
      // Outside workflows the clocks are the process's own.
      expect(performance.now()).toBeLessThan(Date.now() / 2);
      expect(process.hrtime.bigint()).not.toBe(process.hrtime.bigint());
    });

    it('names NaN and an invalid Date when sleep is given one', async () => {
      await harness.startWorker({ workflows: [badSleep] });
      const nan = await (await harness.client.start(badSleep, 'nan')).result({ timeoutMs: 20_000 });
      expect(nan).toContain('(got NaN)');
      const date = await (await harness.client.start(badSleep, 'date')).result({ timeoutMs: 20_000 });
      expect(date).toContain('(got Invalid Date)');
    });
  });
}
