import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sleep, step, workflow } from '@cairn/core';
import type { World } from '@cairn/core/world';
import { createLocalWorld } from '@cairn/world-local';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestEnvironment, type TestEnvironment } from '../src/index.js';

const hour = 3_600_000;

const look = step('clock-mid-append.look', async () => 'seen');
const lookThenNap = workflow('clock-mid-append.look-then-nap', async () => {
  await look();
  await sleep('1h');
  return Date.now();
});

/** A gate the test opens; `reached` resolves once something waits at it. */
function gate() {
  let open = () => {};
  let arrive = () => {};
  const opened = new Promise<void>((resolve) => (open = resolve));
  const reached = new Promise<void>((resolve) => (arrive = resolve));
  const pass = () => {
    arrive();
    return opened;
  };
  return { open, reached, pass };
}

/** Holds the first append that proposes its own stamp (a speculative batch) at `held`. */
function holdFirstStampedAppend(world: World, held: ReturnType<typeof gate>): World {
  let holding = true;
  return {
    ...world,
    events: {
      ...world.events,
      createBatch: async (runId, requests, params) => {
        if (holding && params?.createdAt !== undefined) {
          holding = false;
          await held.pass();
        }
        return world.events.createBatch(runId, requests, params);
      },
    },
  };
}

describe('the virtual clock moved by the test while an append is in flight', () => {
  let env: TestEnvironment | undefined;
  afterEach(async () => {
    await env?.close();
    env = undefined;
  });

  it('leaves later stamps on the clock rather than ahead of it', async () => {
    const held = gate();
    const dir = await mkdtemp(join(tmpdir(), 'cairn-testing-mid-append-'));
    env = await createTestEnvironment({
      workflows: [lookThenNap],
      autoSkip: false,
      world: (clock) => holdFirstStampedAppend(createLocalWorld({ dir, clock }), held),
    });
    const run = await env.client.start(lookThenNap, undefined);
    await held.reached;
    // The clock jumps ten minutes while the step's completion is being written: the
    // append looks ten minutes slow, which must not push later stamps ahead of the clock.
    const before = env.clock.now();
    const advancing = env.clock.advance('10m');
    while (env.clock.now() === before) await Promise.resolve();
    held.open();
    await advancing;
    await env.waitForSleep(run.id);
    await env.clock.advance('1h');
    const finishedAt = await run.result();
    expect(finishedAt).toBe(before + 10 * 60_000 + hour);
  });
});
