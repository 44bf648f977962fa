import { createHook, RunFailedError, step, workflow } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { type EngineSuiteOptions, eventually, openHarness } from '../harness.js';

const charge = step('divergence.charge', async () => 'charged');
const bill = step('divergence.bill', async () => 'billed');

const original = workflow('divergence.checkout', async (token: string) => {
  await charge();
  await createHook({ token });
  return 'done';
});
// A deploy renamed the first step while runs were in flight.
const changed = workflow('divergence.checkout', async (token: string) => {
  await bill();
  await createHook({ token });
  return 'done';
});

export function describeDivergence(options: EngineSuiteOptions): void {
  describe(`${options.name}: replay divergence`, () => {
    it('fails loudly with ReplayDivergenceError naming what the log has and what the code asked', async () => {
      const harness = await openHarness(options);
      try {
        const token = `divergence:${Math.random()}`;
        const first = await harness.startWorker({ workflows: [original] });
        const run = await harness.client.start(original, token);
        await eventually(
          () =>
            harness.world.hooks.getByToken(token).then(
              () => true,
              () => undefined,
            ),
          5000,
          'the hook',
        );
        await first.stop();
        await harness.startWorker({ workflows: [changed] });
        await harness.client.resumeHook(token, 'go');
        const error = (await run.result().catch((caught: unknown) => caught)) as RunFailedError;
        expect(RunFailedError.is(error)).toBe(true);
        expect(error.failure?.code).toBe('REPLAY_DIVERGENCE');
        expect(error.failure?.message).toContain('divergence.charge');
        expect(error.failure?.message).toContain('divergence.bill');
      } finally {
        await harness.close();
      }
    });
  });
}
