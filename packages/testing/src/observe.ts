import type { Wait, World } from '@cairn/core/world';
import { childStepPrefix } from './child-steps.js';
import { TestWaitTimeoutError } from './test-wait-timeout-error.js';

async function collect<Item>(
  list: (cursor: string | undefined) => Promise<{ data: Item[]; cursor: string | null }>,
): Promise<Item[]> {
  const items: Item[] = [];
  let cursor: string | undefined;
  do {
    const page = await list(cursor);
    items.push(...page.data);
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined);
  return items;
}

/**
 * True when some open run has work due now that nothing may have started yet: a step whose
 * attempt is running or due (not a child run, which waits like any run), or a sleep due but
 * not completed. Time must not move past such work.
 */
export async function hasDueWork(world: World, now: number): Promise<boolean> {
  for (const status of ['pending', 'running'] as const) {
    const runs = await collect((cursor) =>
      world.runs.list({ status, limit: 1000, ...(cursor === undefined ? {} : { cursor }) }),
    );
    for (const run of runs) {
      const steps = await collect((cursor) =>
        world.steps.list(run.runId, { limit: 1000, ...(cursor === undefined ? {} : { cursor }) }),
      );
      const stepDue = steps.some(
        (step) =>
          step.status !== 'completed' &&
          step.status !== 'failed' &&
          !step.stepName.startsWith(childStepPrefix) &&
          (step.retryAfter === undefined || step.retryAfter <= now),
      );
      if (stepDue) return true;
      const waits = await collect((cursor) =>
        world.waits.list(run.runId, { limit: 1000, ...(cursor === undefined ? {} : { cursor }) }),
      );
      if (waits.some((wait) => wait.status === 'waiting' && wait.resumeAt <= now)) return true;
    }
  }
  return false;
}

/**
 * The run's sleep that is not yet due, if it is blocked on one. Throws
 * `TestWaitTimeoutError` when the run has ended, since it never will be.
 */
export async function pendingSleep(world: World, runId: string, now: number): Promise<Wait | undefined> {
  const waits = await collect((cursor) =>
    world.waits.list(runId, { limit: 1000, ...(cursor === undefined ? {} : { cursor }) }),
  );
  const sleeping = waits.find((wait) => wait.status === 'waiting' && wait.resumeAt > now);
  if (sleeping) return sleeping;
  const { status } = await world.runs.get(runId);
  if (status === 'completed' || status === 'failed' || status === 'cancelled') {
    throw new TestWaitTimeoutError({ what: `run ${runId} to sleep (it ended ${status})`, timeoutMs: 0 });
  }
  return undefined;
}
