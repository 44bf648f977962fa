import { readdir } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createLocalWorld } from '../src/index.js';
import { temporaryDirectory, within } from './helpers.js';

describe('world-local checkpoints', () => {
  it('compacts the journal into an atomically written snapshot and reopens from it', async () => {
    const directory = await temporaryDirectory();
    const world = createLocalWorld({ dir: directory, checkpointBytes: 16 * 1024 });
    const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'big' } });
    for (let index = 0; index < 60; index++) {
      await world.events.create(run.runId, {
        eventType: 'step_created',
        correlationId: `step-${index}`,
        eventData: { stepName: 'work', input: 'y'.repeat(1000) },
      });
    }
    await world.streams.write(run.runId, 'log', new Uint8Array([0, 255, 7]));
    await world.streams.write(run.runId, 'log', 'text');
    await world.events.create(run.runId, {
      eventType: 'hook_created',
      correlationId: 'hook-1',
      eventData: { token: 'approve:big' },
    });
    await world.queue.send('jobs', { pending: true }, { idempotencyKey: 'job-1' });
    await world.close();

    const files = await readdir(directory);
    const snapshots = files.filter((file) => file.startsWith('snapshot-'));
    expect(snapshots.length).toBe(1);
    // Old generations are removed once the snapshot that contains them is durable.
    expect(files.filter((file) => file.startsWith('journal-'))).toEqual([snapshots[0]!.replace('snapshot', 'journal')]);
    expect(files.some((file) => file.endsWith('.tmp'))).toBe(false);

    const reopened = createLocalWorld({ dir: directory });
    const page = await reopened.events.list(run.runId, { limit: 1000 });
    expect(page.data.length).toBe(62);
    expect((await reopened.hooks.getByToken('approve:big')).hookId).toBe('hook-1');
    const chunks = [];
    for await (const chunk of reopened.streams.read(run.runId, 'log', { signal: AbortSignal.timeout(2000) })) {
      chunks.push(chunk.data);
      if (chunks.length === 2) break;
    }
    expect(chunks).toEqual([new Uint8Array([0, 255, 7]), 'text']);
    // The idempotency key survived compaction: the same send is still deduplicated.
    expect((await reopened.queue.send('jobs', { pending: true }, { idempotencyKey: 'job-1' })).deduplicated).toBe(true);
    const delivered = await within(
      new Promise((resolve) => reopened.queue.consume('jobs', async (message) => resolve(message.payload))),
      5000,
      'the queued message',
    );
    expect(delivered).toEqual({ pending: true });
    await reopened.close();
  });
});
