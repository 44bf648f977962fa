import { createHook, step, workflow } from '@cairn/core';
import type { TestContext } from 'vitest';
import { type EngineSuiteOptions, type Harness, openHarness } from '../harness.js';
import { workflowTopic } from '../topics.js';

// What the tests of passes taken without the queue share: their workflows, and how they
// open a harness and read the wakes a consumer settled.

const increment = step('claimed.increment', async (value: number) => value + 1);

/** `steps` steps one after the other, each adding one. */
export const chain = workflow('claimed.chain', async (steps: number) => {
  let value = 0;
  for (let index = 0; index < steps; index++) value = await increment(value);
  return value;
});

/** Waits for the hook holding `token`, then runs one step on the payload's length. */
export const awaitsHook = workflow('claimed.awaits-hook', async (token: string) => {
  const payload = await createHook<string>({ token });
  return increment(payload.length);
});

/**
 * Opens a harness for a test of passes taken without the queue, or skips the test (with
 * the reason) where the World does not declare `capabilities.queue.claims`.
 */
export async function openClaimsHarness(options: EngineSuiteOptions, context: TestContext): Promise<Harness> {
  const harness = await openHarness(options);
  if (harness.world.capabilities.queue.claims !== true) {
    await harness.close();
    context.skip('the World does not declare capabilities.queue.claims');
  }
  return harness;
}

/** The queue deliveries of `runId`'s wakes that a consumer settled: none when every pass was claimed. */
export function wakesDelivered(harness: Harness, runId: string): Harness['world']['deliveries'] {
  return harness.world.deliveries.filter(
    (delivery) => delivery.topic === workflowTopic && (delivery.payload as { runId: string }).runId === runId,
  );
}
