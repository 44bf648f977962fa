import type { WorldEvent } from '../world/schemas/events.js';
import type { World } from '../world/world.js';

/** How many runs' events are remembered per World; the oldest is forgotten first. */
const maxRemembered = 1000;

/**
 * Events that clients in this process just appended (a run's creation, a hook's delivery),
 * per World object, for a worker of the same World in this process: the pass their wake
 * starts can take them instead of reading them back. Safe even when the log has moved on
 * meanwhile (a cancel, another delivery): nothing in a pass acts before its first commit,
 * which is fenced on the tail the pass reached, so a pass that missed an event is refused
 * and reads what it missed, as after any lost fence. Only events that directly follow the
 * tail a pass asks from are used; they are taken once, and runs whose wake went to another
 * process age out.
 */
const appendedByClients = new WeakMap<World, Map<string, WorldEvent[]>>();

export function rememberClientAppend(world: World, event: WorldEvent): void {
  let runs = appendedByClients.get(world);
  if (runs === undefined) {
    runs = new Map();
    appendedByClients.set(world, runs);
  }
  const events = runs.get(event.runId) ?? [];
  runs.delete(event.runId);
  runs.set(
    event.runId,
    [...events, event].sort((first, second) => first.seq - second.seq),
  );
  if (runs.size > maxRemembered) runs.delete(runs.keys().next().value!);
}

/**
 * The remembered events of `runId` that follow `afterSeq` without a gap, forgotten as they
 * are handed out; undefined when there are none.
 */
export function takeClientAppends(world: World, runId: string, afterSeq: number): WorldEvent[] | undefined {
  const runs = appendedByClients.get(world);
  const events = runs?.get(runId);
  if (events === undefined) return undefined;
  runs!.delete(runId);
  const following: WorldEvent[] = [];
  for (const event of events) {
    if (event.seq <= afterSeq) continue;
    if (event.seq !== afterSeq + following.length + 1) break;
    following.push(event);
  }
  return following.length > 0 ? following : undefined;
}
