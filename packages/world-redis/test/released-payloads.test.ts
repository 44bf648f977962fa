import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestWorld, type Topology } from './helpers.js';

// An append's script gets the run's new events and answers with the entities they changed:
// kilobytes of each when a step carries a payload. Once the script has answered they are
// garbage, and they should die in the young generation, where collecting them costs
// nothing. Answered as text by ioredis, each finished command's reply stayed reachable to
// the young-generation collector until the next full collection: every scavenge copied it,
// and the second one moved it to the old generation.

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;
// Promotion lands in the old generation's two spaces: an object over V8's regular size limit
// (about 128 KB, so any text holding two of these 64 KB strings) goes to the large-object one.
const promotedSpaces = new Set(['old_space', 'large_object_space']);
const oldGenerationBytes = () =>
  getHeapSpaceStatistics()
    .filter((space) => promotedSpaces.has(space.space_name))
    .reduce((total, space) => total + space.space_used_size, 0);

const outputBytes = 64 * 1024;
const steps = 16;
const output = (index: number) => `${index}:`.padEnd(outputBytes, 'x');

describe.each<Topology>(['single', 'cluster'])('world-redis (%s): a finished append', (topology) => {
  const world = createTestWorld(topology);
  afterAll(() => world.close());

  /** One run whose steps each complete with a large output: nothing of it stays open. */
  async function appendOutputs(first: number) {
    const { event } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    for (let index = first; index < first + steps; index++) {
      const correlationId = `step-${index}`;
      await world.events.create(event.runId, {
        eventType: 'step_created',
        correlationId,
        eventData: { stepName: 's' },
      });
      const completed = await world.events.create(event.runId, {
        eventType: 'step_completed',
        correlationId,
        eventData: { output: output(index) },
      });
      expect(completed.event.seq).toBe(2 * (index - first) + 3);
    }
  }

  it('leaves what it sent and got back to die young', async () => {
    await world.open();
    await appendOutputs(0);
    collect();
    await appendOutputs(steps);
    const before = oldGenerationBytes();
    // Two scavenges: the first keeps whatever is still reachable, the second promotes it.
    collect({ type: 'minor' });
    collect({ type: 'minor' });
    const promoted = oldGenerationBytes() - before;
    // Kept, the 16 outputs alone would promote a megabyte.
    expect(promoted).toBeLessThan((steps * outputBytes) / 4);
  });
});
