import type { World } from '@cairn/core/world';
import { afterEach, describe, expect, it } from 'vitest';
import { createLocalWorld } from '../src/index.js';
import { temporaryDirectory } from './helpers.js';

const opened: World[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
});

/*
 * A client waiting for a run's result watches with `untilEnded`. Answered at every event,
 * it watched again and read the run after each step.
 */
describe('world-local: a watch told only the end matters', () => {
  it('waits through the run’s steps and resolves once the run ended', async () => {
    const world = createLocalWorld({ dir: await temporaryDirectory() });
    opened.push(world);
    const [, started] = await world.events.createBatch(null, [
      { eventType: 'run_created', eventData: { workflowName: 'w' } },
      { eventType: 'run_started' },
    ]);
    const { runId } = started!.run;
    let resolved = false;
    const watching = world.events.watch(runId, 2, undefined, { untilEnded: true }).then(() => {
      resolved = true;
    });
    let tail = started!.event.eventId;
    for (let index = 0; index < 3; index++) {
      const results = await world.events.createBatch(
        runId,
        [
          { eventType: 'step_created', correlationId: `step_${index}`, eventData: { stepName: 'echo' } },
          { eventType: 'step_started', correlationId: `step_${index}` },
          { eventType: 'step_completed', correlationId: `step_${index}`, eventData: { output: index } },
        ],
        { lastKnownEventId: tail },
      );
      tail = results.at(-1)!.event.eventId;
      // A plain watch behind the new tail returns once the World has told its watchers.
      await world.events.watch(runId, results.at(-1)!.event.seq - 1);
      expect(resolved, `still waiting after step ${index}`).toBe(false);
    }
    await world.events.create(runId, { eventType: 'run_completed', eventData: {} }, { lastKnownEventId: tail });
    await watching;
    expect((await world.runs.get(runId)).status).toBe('completed');
    // Without the hint, and on a run that already ended, a watch answers at once.
    await world.events.watch(runId, 0);
    await world.events.watch(runId, 0, undefined, { untilEnded: true });
  });
});
