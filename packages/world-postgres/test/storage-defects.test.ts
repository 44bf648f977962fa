import { InvalidInputError, type World } from '@cairn/core/world';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, createTestWorld, openEventLog } from './helpers.js';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

function track<Opened extends World>(world: Opened): Opened {
  cleanups.push(() => world.close());
  return world;
}

/** The largest gap between ticks of a 10 ms interval while `work` runs: how long the event loop was blocked. */
async function longestStall(work: () => Promise<unknown>): Promise<number> {
  let last = Date.now();
  let longest = 0;
  const ticker = setInterval(() => {
    const now = Date.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 10);
  try {
    await work();
  } finally {
    clearInterval(ticker);
  }
  return Math.max(longest, Date.now() - last);
}

describe('world-postgres storage defects', () => {
  it('events.watch leaves no subscriber behind when it returns at once', async () => {
    const { events, notifications, close } = openEventLog('watch-test', { pollIntervalMs: 500 });
    cleanups.push(close);
    const [created] = await events.createBatch(null, [
      { eventType: 'run_created', eventData: { workflowName: 'watch' } },
      { eventType: 'run_started' },
    ]);
    const runId = created!.event.runId;
    // The log already holds a later event, so every watch returns without waiting.
    for (let index = 0; index < 200; index += 1) await events.watch(runId, index % 2);
    expect(notifications.subscriberCount).toBe(0);
    // A watch that did wait, and was woken by an append, is gone afterwards too.
    const waiting = events.watch(runId, 2);
    await events.create(runId, { eventType: 'step_created', correlationId: 's1', eventData: { stepName: 'x' } });
    await waiting;
    expect(notifications.subscriberCount).toBe(0);
  });

  it('a large append full of quotes does not block the event loop', async () => {
    const world = track(createTestWorld());
    const [created] = await world.events.createBatch(null, [
      { eventType: 'run_created', eventData: { workflowName: 'big' } },
      { eventType: 'run_started' },
    ]);
    const runId = created!.event.runId;
    await world.events.create(runId, { eventType: 'step_created', correlationId: 's1', eventData: { stepName: 'x' } });
    // 4 MiB of characters that every quoting layer must escape: " in JSON, \ and ' in SQL literals.
    const output = `"\\'`.repeat(1024 * 1024 + 1024 * 256);
    const stall = await longestStall(() =>
      world.events.create(runId, { eventType: 'step_completed', correlationId: 's1', eventData: { output } }),
    );
    expect(stall).toBeLessThan(1500);
    expect((await world.steps.get(runId, 's1')).output).toBe(output);
  }, 60_000);

  it('a schema named pg_… is refused as input, not by the database later', () => {
    let error: unknown;
    try {
      createPostgresWorld({ connectionString, schema: 'pg_cairn' });
    } catch (caught) {
      error = caught;
    }
    expect(InvalidInputError.is(error)).toBe(true);
    expect((error as InvalidInputError).field).toBe('options.schema');
  });
});
