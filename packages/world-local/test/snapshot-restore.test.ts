import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createLocalWorld } from '../src/index.js';
import { temporaryDirectory } from './helpers.js';

describe('world-local snapshots', () => {
  it('reopens a snapshot in which a later run handed a hook token to an earlier one', async () => {
    const directory = await temporaryDirectory();
    const world = createLocalWorld({ dir: directory, checkpointBytes: 1024 });
    const created = (workflowName: string) =>
      world.events.create(null, { eventType: 'run_created', eventData: { workflowName } });
    const a = (await created('first')).run.runId;
    const b = (await created('second')).run.runId;
    await world.events.create(b, {
      eventType: 'hook_created',
      correlationId: 'hook-b',
      eventData: { token: 'shared' },
    });
    await world.events.create(b, { eventType: 'hook_disposed', correlationId: 'hook-b' });
    await world.events.create(a, {
      eventType: 'hook_created',
      correlationId: 'hook-a',
      eventData: { token: 'shared' },
    });
    // Push the journal past checkpointBytes so the next commit writes a snapshot.
    for (let index = 0; index < 4; index += 1) {
      await world.events.create(b, {
        eventType: 'step_created',
        correlationId: `fill-${index}`,
        eventData: { stepName: 'fill', input: 'x'.repeat(400) },
      });
    }
    const before = await world.hooks.list(a);
    await world.close();
    expect((await readdir(directory)).some((file) => /^snapshot-\d+\.cairn$/.test(file))).toBe(true);

    const reopened = createLocalWorld({ dir: directory });
    expect(await reopened.hooks.getByToken('shared')).toMatchObject({ runId: a, hookId: 'hook-a' });
    expect(await reopened.hooks.list(a)).toEqual(before);
    expect((await reopened.hooks.get(b, 'hook-b')).status).toBe('disposed');
    expect((await reopened.runs.list()).data.map((run) => run.runId)).toEqual([b, a]);
    await reopened.close();
  });
});
