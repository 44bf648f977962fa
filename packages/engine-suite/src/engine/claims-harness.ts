import type { TestContext } from 'vitest';
import { type EngineSuiteOptions, type Harness, openHarness } from '../harness.js';
import { workflowTopic } from '../topics.js';

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
