import type { Wait, World } from '@cairn/core/world';
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
