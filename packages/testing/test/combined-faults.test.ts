import { step, workflow } from '@cairn/core';
import { expect, it } from 'vitest';
import { createTestEnvironment } from '../src/index.js';

let charges = 0;
// The default backoff (1 s) is short enough that a pass holds for the retry instead of
// ending: the worker's stop must end that hold, or a crash restart would wait forever.
const charge = step('combined.chargeCard', async (cents: number) => {
  charges += 1;
  return { cents };
});
const checkout = workflow('combined.checkout', async (cents: number) => charge(cents));

it('survives failed attempts, slow writes, lost races and a crash on one step', async () => {
  const env = await createTestEnvironment({ workflows: [checkout], seed: 42 });
  try {
    env.faults.failStep('combined.chargeCard', { attempts: 2 });
    env.faults.delayAppends({ appends: 3, min: '5ms', max: '30ms' });
    env.faults.forceFenceConflicts(2);
    env.faults.crashBeforeRecording('combined.chargeCard');
    const run = await env.client.start(checkout, 1999);
    expect(await run.result()).toEqual({ cents: 1999 });
    expect(env.faults.injected).toMatchObject({ stepFailures: 2, fenceConflicts: 2, crashes: 1, delayedAppends: 3 });
    expect(charges).toBe(2);
    const completions = (await run.events()).filter((event) => event.eventType === 'step_completed');
    expect(completions).toHaveLength(1);
  } finally {
    await env.close();
  }
});
