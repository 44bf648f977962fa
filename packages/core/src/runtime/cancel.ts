import { childRunId, childStepPrefix } from '../workflow/reserved-names.js';
import { RunNotFoundError } from '../world/errors/run-not-found-error.js';
import { RunTerminalError } from '../world/errors/run-terminal-error.js';
import type { Run } from '../world/schemas/entities.js';
import type { World } from '../world/world.js';
import { wakeRequest } from './topics.js';

/**
 * Cancels a run and, depth first, every child it started that is still open. Idempotent:
 * a run that already ended is left as it is. Each child is cancelled even if the parent had
 * already ended, so a cascade interrupted by a crash completes when repeated.
 *
 * The cancel carries the run's wake in its own append (`runLease`: with the run's group
 * key, as the workers expect). A worker that takes it finds the run cancelled and cancels
 * its open children (`Children.finish`), so the cascade completes even when the caller dies
 * right after the cancel commits, with no one left to repeat it.
 */
export async function cancelRunTree(
  world: World,
  runId: string,
  { reason, runLease }: { reason?: string; runLease: boolean },
): Promise<Run> {
  let run: Run;
  try {
    run = (
      await world.events.create(
        runId,
        { eventType: 'run_cancelled', eventData: reason === undefined ? {} : { reason } },
        { enqueue: [wakeRequest(runId, runLease)] },
      )
    ).run;
  } catch (error) {
    if (!RunTerminalError.is(error)) throw error;
    run = await world.runs.get(runId);
  }
  await cancelOpenChildren(world, runId, runLease);
  await closeRunStreams(world, runId);
  return run;
}

/** Cancels (with `cancelRunTree`) every child of the cancelled run `runId` that has not ended. */
export async function cancelOpenChildren(world: World, runId: string, runLease: boolean): Promise<void> {
  for (let cursor: string | undefined, more = true; more; ) {
    const page = await world.steps.list(runId, { limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    for (const step of page.data) {
      if (!step.stepName.startsWith(childStepPrefix) || step.status === 'completed' || step.status === 'failed')
        continue;
      try {
        await cancelRunTree(world, childRunId(runId, step.stepId), {
          reason: `parent run ${runId} was cancelled`,
          runLease,
        });
      } catch (error) {
        // The parent recorded the child but died before creating it: nothing to cancel.
        if (!RunNotFoundError.is(error)) throw error;
      }
    }
    cursor = page.cursor ?? undefined;
    more = cursor !== undefined;
  }
}

/**
 * Streams end with their run, so live readers finish instead of waiting forever. A World
 * that closes them with the append that ended the run has done it already.
 */
export async function closeRunStreams(world: World, runId: string): Promise<void> {
  if (world.capabilities.streams.closedWithRun === true) return;
  for (const stream of await world.streams.list(runId)) {
    if (!stream.closed) await world.streams.close(runId, stream.name);
  }
}
