import { FenceConflictError } from '../world/errors/fence-conflict-error.js';
import type { CreateEventRequest } from '../world/schemas/events.js';
import type { CreateEventParams, CreateEventResult, World } from '../world/world.js';
import type { SpeculationMargin } from './speculation-margin.js';
import { clockReadingFreshMs, type StampChoice, type WorldClock } from './world-clock.js';

/** A worker's reading of its World's clock, and how far ahead of it a stamp must be. */
export interface ClockReading {
  clock: WorldClock;
  margin: SpeculationMargin;
}

/**
 * Readings lent by workers to clients of the same World object in the same process. A
 * stamped append needs no read of the World's clock first (on PostgreSQL it is one round
 * trip instead of two), but only a worker learns that clock: from the stamps of every pass
 * it records. Keyed weakly by the World, so a closed World and its reading go together.
 */
const readings = new WeakMap<World, ClockReading>();

/** Lends `reading` to clients of `world` in this process (the last worker to start wins). */
export function shareClockReading(world: World, reading: ClockReading): void {
  readings.set(world, reading);
}

/**
 * A client's append (a run's creation, a hook's delivery). Stamped from a worker's fresh
 * reading when this process has one for `world`; otherwise left to the World, and a run's
 * creation (always stamped by the World from its clock, being the run's first event) then
 * refreshes the reading. A creation may also be the one chosen to renew a reading that is
 * stale or about to be (`WorldClock.chooseStamp`); creations that find a renewal on its way
 * wait for it. A stamp the World refuses (already in its past, or before the run's
 * last event) wrote nothing; the append is sent again unstamped, and the reading is
 * distrusted until the World's own stamp renews it. Nothing else is retried.
 */
export async function appendFromClient(
  world: World,
  runId: string,
  request: CreateEventRequest,
  params: CreateEventParams,
): Promise<CreateEventResult> {
  const reading = readings.get(world);
  if (reading === undefined) return world.events.create(runId, request, params);
  const { clock, margin } = reading;
  // Only a run's creation is stamped by the World from its clock alone (it has no earlier
  // event whose time it must follow), so only a creation can renew the reading.
  const renews = request.eventType === 'run_created';
  let choice: StampChoice;
  if (renews) choice = await clock.chooseStamp(runId);
  else choice = clock.observedWithin(clockReadingFreshMs) ? 'stamp' : 'unstamped';
  if (choice === 'stamp') {
    const pending = margin.send();
    const stamp = clock.now() + pending.ms;
    await pending.ready();
    try {
      const result = await world.events.create(runId, request, { ...params, createdAt: stamp });
      pending.committed();
      return result;
    } catch (error) {
      if (!FenceConflictError.is(error)) {
        pending.threw(error);
        throw error;
      }
      // A run's creation has no earlier event, so a refused stamp fell into the World's
      // past; any other append's stamp may instead be before its run's last event.
      if (request.eventType === 'run_created') {
        pending.refused();
        clock.observeStampInPast(stamp, clock.localNow());
      } else pending.abandoned();
      clock.distrust();
    }
  }
  // Unstamped, but still counted: stamps chosen while it is on its way queue behind it.
  const pending = margin.send();
  await pending.ready();
  const sentAt = clock.localNow();
  let result: CreateEventResult;
  try {
    result = await world.events.create(runId, request, params);
  } catch (error) {
    if (choice === 'renew') clock.renewalEnded();
    pending.threw(error);
    throw error;
  }
  // How long the append took says how far ahead the next stamps must be. A worker's first
  // pass stamps right after this, before it has timed an append of its own, and a World
  // that is slow to answer (cold, or far away) would refuse a stamp made with the floor
  // alone; the pass would then have to read back the log this client just wrote.
  pending.committed();
  if (renews) clock.observeStamp(result.event.createdAt, sentAt, clock.localNow());
  return result;
}
