import type { World } from '@cairn/core/world';
import { afterEach, describe, expect, it } from 'vitest';
import { createTestWorld, type Topology } from './helpers.js';

const opened: World[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
});

/*
 * A client waiting for a run's result watches with `untilEnded`. Answered at every event,
 * it watched again and read the run after each step: two round trips a step instead of one.
 */
describe.each<Topology>(['single', 'cluster'])('world-redis (%s): a watch told only the end matters', (topology) => {
  it('waits through the run’s steps and resolves once the run ended', async () => {
    const world = createTestWorld(topology);
    opened.push(world);
    const [, started] = await world.events.createBatch(null, [
      { eventType: 'run_created', eventData: { workflowName: 'w' } },
      { eventType: 'run_started' },
    ]);
    const { runId } = started!.run;
    const outcomes: string[] = [];
    const watching = world.events.watch(runId, 2, undefined, { untilEnded: true }).then(() => outcomes.push('ended'));
    let tail = started!.event.eventId;
    for (const index of [0, 1, 2]) {
      const steps = await world.events.createBatch(
        runId,
        [
          { eventType: 'step_created', correlationId: `s${index}`, eventData: { stepName: 'echo' } },
          { eventType: 'step_started', correlationId: `s${index}` },
          { eventType: 'step_completed', correlationId: `s${index}`, eventData: { output: index } },
        ],
        { lastKnownEventId: tail },
      );
      tail = steps.at(-1)!.event.eventId;
      // Woken by the same notification, a plain watch behind the new tail has returned.
      await world.events.watch(runId, steps.at(-1)!.event.seq - 1);
      expect(outcomes, `after step ${index}`).toEqual([]);
    }
    await world.events.create(runId, { eventType: 'run_completed', eventData: {} }, { lastKnownEventId: tail });
    await watching;
    expect(outcomes).toEqual(['ended']);
    expect((await world.runs.get(runId)).status).toBe('completed');
  });
});
