import type { World } from '@cairn/core/world';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, freshSchema, listenToChannel, onlyNotifies, statementOf } from './helpers.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Notifications on a schema's channel, as another process listening to it sees them. */
async function listen(schema: string) {
  const listener = await listenToChannel(schema);
  cleanups.push(listener.stop);
  return listener.received;
}

async function until<Value>(probe: () => Value | undefined, what: string): Promise<Value> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('world-postgres notifications after the commit', () => {
  /** A World whose statements that only notify are held until the test lets them go. */
  async function gatedWorld() {
    const schema = freshSchema();
    const gate = { held: 0, letGo: () => {} };
    const opened = new Promise<void>((resolve) => {
      gate.letGo = resolve;
    });
    class GatedClient extends pg.Client {
      // biome-ignore lint/suspicious/noExplicitAny: pg's query has many overloads; this passes them all through.
      override query(...args: any[]): any {
        // biome-ignore lint/suspicious/noExplicitAny: as above.
        const send = () => (super.query as (...all: any[]) => any)(...args);
        if (!onlyNotifies(statementOf(args).text)) return send();
        gate.held += 1;
        return opened.then(send);
      }
    }
    const pool = new pg.Pool({ connectionString, Client: GatedClient });
    const world = createPostgresWorld({ pool, schema });
    cleanups.push(async () => {
      gate.letGo();
      await world.close();
      await pool.end();
    });
    await world.open?.();
    // Another World that reads each run's tail, so the runs' appends have someone to tell:
    // a run only its own World watches is told of its appends without a NOTIFY.
    const other = createPostgresWorld({ connectionString, schema });
    cleanups.push(() => other.close());
    const watchElsewhere = async (runId: string) => {
      await other.events.watch(runId, 0);
    };
    return { world, gate, received: await listen(schema), watchElsewhere };
  }

  /**
   * A stamp a little ahead of the database's clock, as the engine proposes: an append so
   * stamped to a run this World wrote last takes one statement (the one that groups). Two
   * seconds ahead, as a loaded machine once took 270 ms between stamping and checking.
   */
  const ahead = () => Date.now() + 2_000;

  const createRun = async (world: World) =>
    (await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'notified' } })).event
      .runId;

  it('sends the notifications of appends that overlap after their commits, by a statement of their own', async () => {
    const { world, gate, received, watchElsewhere } = await gatedWorld();
    const runs: string[] = [];
    for (let index = 0; index < 6; index++) runs.push(await createRun(world));
    for (const runId of runs) await watchElsewhere(runId);
    // Committed together, yet at most one (the first out, while none other was) announced
    // itself: what announces the others is a later statement, held here.
    await Promise.all(
      runs.map((runId) =>
        world.events.create(
          runId,
          { eventType: 'run_started' },
          { createdAt: ahead(), enqueue: [{ topic: `work-${runId}`, payload: 1 }] },
        ),
      ),
    );
    await until(() => (gate.held > 0 ? true : undefined), 'a statement that notifies');
    const startedOf = (runId: string) =>
      received.some((notification) => notification.payload === `event ${runId}\u001e2 running`);
    const wokenFor = (runId: string) => received.some((notification) => notification.payload === `queue work-${runId}`);
    await new Promise((resolve) => setImmediate(resolve));
    expect(runs.filter(startedOf).length, 'appends that notified from their own statement').toBeLessThanOrEqual(1);
    gate.letGo();
    await until(
      () => (runs.every((runId) => startedOf(runId) && wokenFor(runId)) ? true : undefined),
      'every run’s notification and wake',
    );
    // A statement that leaves its notifications out sends none at all, not an empty one.
    expect(received.filter((notification) => notification.payload === '')).toEqual([]);
  });

  it('lets an append that goes alone notify from its own statement, sending no other', async () => {
    const { world, gate, received, watchElsewhere } = await gatedWorld();
    const runId = await createRun(world);
    await watchElsewhere(runId);
    await world.events.create(
      runId,
      { eventType: 'run_started' },
      { createdAt: ahead(), enqueue: [{ topic: 'work', payload: 1 }] },
    );
    await until(
      () =>
        received.some((notification) => notification.payload === `event ${runId}\u001e2 running`) &&
        received.some((notification) => notification.payload === 'queue work')
          ? true
          : undefined,
      'the run’s notification and the message’s wake',
    );
    expect(gate.held).toBe(0);
  });

  it('still sends the last appends’ notifications when the World closes right after them', async () => {
    const schema = freshSchema();
    const writer = createPostgresWorld({ connectionString, schema });
    // A watcher that only a notification can wake: its fallback poll is ten minutes away.
    const watcher = createPostgresWorld({ connectionString, schema, pollIntervalMs: 600_000 });
    cleanups.push(() => watcher.close());
    const { event } = await writer.events.create(null, {
      eventType: 'run_created',
      eventData: { workflowName: 'closing' },
    });
    // A first watch reads the tail and follows the run from then on, so the second waits
    // on the notification alone, without reading.
    await watcher.events.watch(event.runId, 0);
    const watched = watcher.events.watch(event.runId, 1);
    await new Promise((resolve) => setImmediate(resolve));
    await writer.events.create(event.runId, { eventType: 'run_started' });
    await writer.close();
    await expect(watched).resolves.toMatchObject({ lastSeq: 2 });
  });
});
