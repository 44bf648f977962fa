import type { World } from '@cairn/core/world';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, freshSchema, listenToChannel, statementOf } from './helpers.js';

/*
 * An append's notification only wakes watchers, and a World hands its own appends to its
 * own watchers directly. So a run that no other World watches or writes needs no NOTIFY at
 * all; these tests pin down that it sends none, and that a World that starts watching or
 * writing the run is told of every later append all the same.
 */

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A poll so slow that a watch woken by it, not by a notification, fails the test's timeout. */
const slowPoll = { pollIntervalMs: 600_000 };

function worlds(count: number, schema = freshSchema()): World[] {
  const made = Array.from({ length: count }, () => createPostgresWorld({ connectionString, schema, ...slowPoll }));
  cleanups.push(() => Promise.all(made.map((world) => world.close())).then(() => {}));
  return made;
}

/** Every payload on the schema's channel, as a process listening to it sees them. */
async function listen(schema: string) {
  const { received, settled, stop } = await listenToChannel(schema);
  cleanups.push(stop);
  const aboutRun = (runId: string) =>
    received.map(({ payload }) => payload).filter((payload) => payload.startsWith(`event ${runId}\u001e`));
  return { settled, aboutRun };
}

/**
 * A World that appends as one of the previous version does: each call of `append_batch`
 * goes to the previous signature, without the appending World's id.
 */
function previousVersionWorld(schema: string): World {
  // The appending World's id is the call's last argument: a bound value, or a quoted
  // literal where the long way writes the call into its transaction's text.
  const withoutId = (text: string) => text.replace(/, '[\w-]{16}'\) AS claims/g, ') AS claims');
  class PreviousSignatureClient extends pg.Client {
    // biome-ignore lint/suspicious/noExplicitAny: pg's query has many overloads; this passes them all through.
    override query(...args: any[]): any {
      const { text, values } = statementOf(args);
      // biome-ignore lint/suspicious/noExplicitAny: as above.
      const send = super.query as (...all: any[]) => any;
      if (!text.includes(') AS claims')) return send.apply(this, args);
      // The World hands pg a query object holding its callback (or, through a pool of another
      // copy of pg, a config and a callback): a rewritten call keeps the callback.
      const callback =
        typeof args.at(-1) === 'function'
          ? [args.at(-1)]
          : typeof args[0]?.callback === 'function'
            ? [args[0].callback]
            : [];
      const bound = /^SELECT (\S+)\.append_batch\((\$\d+(?:, \$\d+)*)\) AS claims$/.exec(text);
      if (bound !== null && values.length === 63) {
        const previous = Array.from({ length: 62 }, (_, index) => `$${index + 1}`).join(', ');
        return send.call(
          this,
          `SELECT ${bound[1]}.append_batch(${previous}) AS claims`,
          values.slice(0, 62),
          ...callback,
        );
      }
      const rewritten = withoutId(text);
      if (rewritten === text) throw new Error(`a call of append_batch this test cannot rewrite: ${text.slice(0, 200)}`);
      return send.call(this, rewritten, values.length > 0 ? values : undefined, ...callback);
    }
  }
  const pool = new pg.Pool({ connectionString, Client: PreviousSignatureClient });
  const world = createPostgresWorld({ pool, schema, ...slowPoll });
  cleanups.push(async () => {
    await world.close();
    await pool.end();
  });
  return world;
}

async function createRun(world: World): Promise<string> {
  const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
  return run.runId;
}

const stepCreated = (index: number) => ({
  eventType: 'step_created' as const,
  correlationId: `step_${index}`,
  eventData: { stepName: 'unannounced.step', input: [index] },
});

describe('world-postgres: appends no other World follows are not announced', () => {
  it('sends no NOTIFY for a run only this World has created, written and watched', async () => {
    const schema = freshSchema();
    const [world] = worlds(1, schema);
    const channel = await listen(schema);
    const runId = await createRun(world!);
    const waiting = world!.events.watch(runId, 2);
    await world!.events.create(runId, { eventType: 'run_started' });
    for (let index = 0; index < 3; index++) await world!.events.create(runId, stepCreated(index));
    // Its own watcher heard of the appends all the same.
    expect((await waiting)?.lastSeq).toBeGreaterThanOrEqual(3);
    expect(await world!.events.watch(runId, 4)).toEqual({ lastSeq: 5, status: 'running' });
    await channel.settled();
    expect(channel.aboutRun(runId)).toEqual([]);
  });

  it('announces every later append once another World has read the tail', async () => {
    const schema = freshSchema();
    const [writer, watcher] = worlds(2, schema);
    const channel = await listen(schema);
    const runId = await createRun(writer!);
    await writer!.events.create(runId, { eventType: 'run_started' });
    expect(await watcher!.events.watch(runId, 0)).toEqual({ lastSeq: 2, status: 'running' });
    const waiting = watcher!.events.watch(runId, 2);
    await writer!.events.create(runId, stepCreated(0));
    expect(await waiting).toEqual({ lastSeq: 3, status: 'running' });
    await writer!.events.create(runId, stepCreated(1));
    expect(await watcher!.events.watch(runId, 3)).toEqual({ lastSeq: 4, status: 'running' });
    await channel.settled();
    expect(channel.aboutRun(runId).map((payload) => payload.split('\u001e')[1])).toEqual(['3 running', '4 running']);
  });

  it('tells a World that wrote to the run of the creator’s later appends', async () => {
    const [creator, other] = worlds(2);
    const runId = await createRun(creator!);
    await creator!.events.create(runId, { eventType: 'run_started' });
    // The other World appends once (as a hook's sender would), and so follows the tail.
    await other!.events.create(runId, stepCreated(0));
    expect(await other!.events.watch(runId, 2)).toEqual({ lastSeq: 3, status: 'running' });
    const waiting = other!.events.watch(runId, 3);
    await creator!.events.create(runId, stepCreated(1));
    expect(await waiting).toEqual({ lastSeq: 4, status: 'running' });
    // And what it follows is the truth: a watch past it waits, then hears the next one.
    const next = other!.events.watch(runId, 4);
    await creator!.events.create(runId, stepCreated(2));
    expect(await next).toEqual({ lastSeq: 5, status: 'running' });
  });

  it('tells a World watching a run through a restart of its writer', async () => {
    const schema = freshSchema();
    const [watcher] = worlds(1, schema);
    const [first] = worlds(1, schema);
    const runId = await createRun(first!);
    await first!.events.create(runId, { eventType: 'run_started' });
    await first!.close();
    // A new World (a restarted process) takes the run over and appends to it.
    const [second] = worlds(1, schema);
    expect(await watcher!.events.watch(runId, 0)).toEqual({ lastSeq: 2, status: 'running' });
    const waiting = watcher!.events.watch(runId, 2);
    await second!.events.create(runId, stepCreated(0));
    expect(await waiting).toEqual({ lastSeq: 3, status: 'running' });
  });

  it('still announces every append of a World of the previous version, and what it writes', async () => {
    const schema = freshSchema();
    const [current, watcher] = worlds(2, schema);
    const previous = previousVersionWorld(schema);
    const channel = await listen(schema);
    // Its own run: every append is announced, as that version expects.
    const ownRunId = await createRun(previous);
    await previous.events.create(ownRunId, { eventType: 'run_started' });
    // A run the current World created: once the previous version has written to it, the
    // current World's appends are announced too, to a watcher that never read the tail.
    const runId = await createRun(current!);
    await current!.events.create(runId, { eventType: 'run_started' });
    await previous.events.create(runId, stepCreated(0));
    await current!.events.create(runId, stepCreated(1));
    await channel.settled();
    expect(channel.aboutRun(ownRunId).map((payload) => payload.split('\u001e')[1])).toEqual(['1 pending', '2 running']);
    expect(channel.aboutRun(runId).map((payload) => payload.split('\u001e')[1])).toEqual(['3 running', '4 running']);
    expect(await watcher!.events.watch(runId, 3)).toEqual({ lastSeq: 4, status: 'running' });
  });
});
