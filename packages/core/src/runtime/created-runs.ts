import type { WorldEvent } from '../world/schemas/events.js';
import type { World } from '../world/world.js';

/** How many runs' creations are remembered per World; the oldest is forgotten first. */
const maxRemembered = 1000;

/**
 * The first event of runs a client in this process just created, per World object, for a
 * worker of the same World in this process: its first pass of such a run can start from
 * this log instead of reading it back. Safe even when the log has moved on meanwhile (a
 * cancel, a hook delivery): a pass's first commit is fenced on the tail it started from,
 * so a stale start is refused and the pass reads what it missed, as after any lost fence.
 * An entry is taken once; runs whose wake went to another process age out.
 */
const createdRuns = new WeakMap<World, Map<string, WorldEvent>>();

export function rememberCreatedRun(world: World, created: WorldEvent): void {
  let runs = createdRuns.get(world);
  if (runs === undefined) {
    runs = new Map();
    createdRuns.set(world, runs);
  }
  runs.set(created.runId, created);
  if (runs.size > maxRemembered) runs.delete(runs.keys().next().value!);
}

/** The remembered creation of `runId`, forgotten as it is handed out. */
export function takeCreatedRun(world: World, runId: string): WorldEvent | undefined {
  const runs = createdRuns.get(world);
  const created = runs?.get(runId);
  if (created !== undefined) runs!.delete(runId);
  return created;
}
