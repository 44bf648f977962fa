import nodeCrypto, { randomBytes, randomFillSync } from 'node:crypto';
import { NondeterminismError, RunFailedError, replayRun, sleep, workflow } from '@cairn/core';
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

const clocks = {
  'performance.now()': () => performance.now(),
  'process.hrtime()': () => process.hrtime(),
  'process.hrtime.bigint()': () => process.hrtime.bigint(),
} as const;
type ClockName = keyof typeof clocks;

const clockCaught = workflow('guards.clock-caught', async (api: ClockName) => {
  try {
    clocks[api]();
    return 'allowed';
  } catch (error) {
    return NondeterminismError.is(error) ? { code: error.code, api: error.api, message: error.message } : String(error);
  }
});
const clockUncaught = workflow('guards.clock-uncaught', async () => {
  performance.now();
  return 'not reached';
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

    it('refuses performance.now() and process.hrtime() inside a workflow with NondeterminismError', async () => {
      await harness.startWorker({ workflows: [clockCaught, clockUncaught] });
      for (const api of Object.keys(clocks) as ClockName[]) {
        const run = await harness.client.start(clockCaught, api);
        const outcome = await run.result({ timeoutMs: 20_000 });
        expect(outcome).toMatchObject({ code: 'NONDETERMINISTIC_API', api });
        expect((outcome as { message: string }).message).toContain('now()');
      }
      const uncaught = await harness.client.start(clockUncaught, undefined);
      const error = await uncaught.result({ timeoutMs: 20_000 }).catch((caught: unknown) => caught);
      expect(RunFailedError.is(error)).toBe(true);
      expect((error as RunFailedError).failure).toMatchObject({ name: 'NondeterminismError' });
      // Outside workflows the clocks work.
      expect(typeof performance.now()).toBe('number');
      expect(typeof process.hrtime.bigint()).toBe('bigint');
      expect(process.hrtime()).toHaveLength(2);
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
