import type { World, WorldEvent } from '@cairn/core/world';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { eventKey } from '../src/notifications.js';
import { connectionString, freshSchema, openEventLog } from './helpers.js';

const opened: World[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((world) => world.close()));
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

function worlds(count: number): World[] {
  const schema = freshSchema();
  const made = Array.from({ length: count }, () => createPostgresWorld({ connectionString, schema }));
  opened.push(...made);
  return made;
}

/** A started run and its tail's event id. */
async function startedRun(world: World): Promise<{ runId: string; tail: string }> {
  const [, started] = await world.events.createBatch(null, [
    { eventType: 'run_created', eventData: { workflowName: 'w' } },
    { eventType: 'run_started' },
  ]);
  return { runId: started!.run.runId, tail: started!.event.eventId };
}

/*
 * A client waiting for a run's result watches with `untilEnded`. A World that answered at
 * every event made that client watch again after each one: three checks of its input, a new
 * subscription and timer, and a trip through the client's loop, on every step of the run.
 */
describe('world-postgres: a watch told only the end matters', () => {
  it('waits through the run’s steps and resolves with the ended run', async () => {
    const [shared] = worlds(1);
    for (const [watcher, writer] of [[shared!, shared!], worlds(2)]) {
      // The same World watching its own appends, then a World on another pool.
      const sameWorld = watcher === writer;
      const { runId, tail } = await startedRun(writer!);
      const resolved: (number | undefined)[] = [];
      const watching = watcher!.events.watch(runId, 2, undefined, { untilEnded: true }).then((watched) => {
        resolved.push(watched?.lastSeq);
        return watched;
      });
      let last: WorldEvent = (await writer!.events.get(runId, tail)) as WorldEvent;
      for (let index = 0; index < 3; index++) {
        const { event } = await writer!.events
          .createBatch(
            runId,
            [
              { eventType: 'step_created', correlationId: `step_${index}`, eventData: { stepName: 'echo' } },
              { eventType: 'step_started', correlationId: `step_${index}` },
              { eventType: 'step_completed', correlationId: `step_${index}`, eventData: { output: index } },
            ],
            { lastKnownEventId: last.eventId },
          )
          .then((results) => results.at(-1)!);
        last = event;
        // The step's notification has reached the watch by the time a plain watch after it
        // (on the same World, so the same listener) sees the step.
        await watcher!.events.watch(runId, event.seq - 1);
        expect(resolved, `still waiting after step ${index} (${sameWorld ? 'same World' : 'other pool'})`).toEqual([]);
      }
      const ended = await writer!.events.create(
        runId,
        { eventType: 'run_completed', eventData: { output: 3 } },
        {
          lastKnownEventId: last.eventId,
        },
      );
      expect(await watching).toMatchObject({ lastSeq: ended.event.seq, status: 'completed' });
    }
  });

  it('answers at once for a run that already ended, and at the first event without the hint', async () => {
    const [world] = worlds(1);
    const { runId, tail } = await startedRun(world!);
    const plain = world!.events.watch(runId, 2);
    const { event } = await world!.events.create(
      runId,
      { eventType: 'step_created', correlationId: 'step_a', eventData: { stepName: 'echo' } },
      { lastKnownEventId: tail },
    );
    expect(await plain).toMatchObject({ lastSeq: 3, status: 'running' });
    await world!.events.create(
      runId,
      { eventType: 'run_completed', eventData: {} },
      { lastKnownEventId: event.eventId },
    );
    expect(await world!.events.watch(runId, 0, undefined, { untilEnded: true })).toMatchObject({
      lastSeq: 4,
      status: 'completed',
    });
  });

  it('stops waiting when its signal aborts', async () => {
    const [world] = worlds(1);
    const { runId } = await startedRun(world!);
    const stop = new AbortController();
    const watching = world!.events.watch(runId, 2, stop.signal, { untilEnded: true });
    stop.abort();
    expect(await watching).toBeUndefined();
  });

  it('keeps one subscription while the run goes on, instead of a new one per notification', async () => {
    const { events, notifications, close } = openEventLog('until-ended-test', { pollIntervalMs: 60_000 });
    // A watch still waiting when the test ends (because it failed) stops before the pool goes.
    const stopWatching = new AbortController();
    cleanups.push(async () => {
      stopWatching.abort();
      await close();
    });
    const [, started] = await events.createBatch(null, [
      { eventType: 'run_created', eventData: { workflowName: 'w' } },
      { eventType: 'run_started' },
    ]);
    const runId = started!.run.runId;
    // Listening from the start: connecting wakes every waiter once, to look again.
    await notifications.ready();
    // Every notification of the run, counted: each append is heard here at once, from the
    // World itself (no other World watches the run, so none comes through the database),
    // and the test waits for it before the next append.
    let heard = 0;
    let onHeard = () => {};
    const stopCounting = notifications.subscribe(eventKey(runId), () => {
      heard += 1;
      onHeard();
    });
    const heardAtLeast = (count: number) =>
      new Promise<void>((resolve) => {
        onHeard = () => {
          if (heard >= count) resolve();
        };
        onHeard();
      });
    let subscriptions = 0;
    const makeWaiter = notifications.waiter.bind(notifications);
    notifications.waiter = (...args) => {
      subscriptions += 1;
      return makeWaiter(...args);
    };
    const watching = events.watch(runId, 2, stopWatching.signal, { untilEnded: true });
    let last = started!.event;
    for (let index = 0; index < 5; index++) {
      ({ event: last } = await events.create(
        runId,
        { eventType: 'step_created', correlationId: `step_${index}`, eventData: { stepName: 'echo' } },
        { lastKnownEventId: last.eventId },
      ));
      await heardAtLeast(index + 1);
    }
    // Five notifications went past, and none woke the watch that waits for the end.
    expect(subscriptions).toBe(1);
    stopCounting();
    await events.create(
      runId,
      { eventType: 'run_completed', eventData: { output: 5 } },
      { lastKnownEventId: last.eventId },
    );
    expect(await watching).toMatchObject({ lastSeq: last.seq + 1, status: 'completed' });
    expect(notifications.subscriberCount).toBe(0);
  });
});
