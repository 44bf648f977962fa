import { createClient, createHook, createWorker, type Worker, workflow } from '@cairn/core';
import { type World, WorldUnavailableError } from '@cairn/core/world';
import { afterEach, describe, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { type CommitDroppingProxy, startCommitDroppingProxy } from './commit-dropping-proxy.js';
import { connectionString, freshSchema } from './helpers.js';

/** Collects the payloads sent to `signal:<key>` until something is sent to `done:<key>`. */
const collect = workflow('lost-commit-reply.collect', async (key: string) => {
  const signals = createHook<string>({ token: `signal:${key}` })[Symbol.asyncIterator]();
  const ended = createHook<null>({ token: `done:${key}` }).then(() => undefined);
  const received: string[] = [];
  for (;;) {
    const next = await Promise.race([signals.next(), ended]);
    if (next === undefined) return received;
    received.push(next.value);
  }
});

const unique = () => Math.random().toString(36).slice(2);

// A connection that drops after PostgreSQL committed an append, before its answer arrived:
// the World cannot tell whether the append landed, and reports an outage.
describe('world-postgres: the answer to a committed append is lost', () => {
  let proxy: CommitDroppingProxy | undefined;
  let world: World | undefined;
  let worker: Worker | undefined;
  afterEach(async () => {
    await worker?.stop();
    await world?.close();
    await proxy?.close();
    worker = world = proxy = undefined;
  });

  async function open(): Promise<World> {
    proxy = await startCommitDroppingProxy(connectionString);
    world = createPostgresWorld({ connectionString: proxy.connectionString, schema: freshSchema() });
    return world;
  }

  it('is WorldUnavailableError (retryable), though the event was written', async () => {
    const world = await open();
    const { event } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    const runId = event.runId;
    await world.events.create(runId, {
      eventType: 'hook_created',
      correlationId: 'h1',
      eventData: { token: unique() },
    });
    const marker = `lost-${unique()}`;
    const dropped = proxy!.dropCommitReplyAfter(marker);
    const error = await world.events
      .create(runId, { eventType: 'hook_received', correlationId: 'h1', eventData: { payload: marker } })
      .then(
        () => undefined,
        (failure: unknown) => failure,
      );
    await dropped;
    expect(WorldUnavailableError.is(error), String(error)).toBe(true);
    expect((error as WorldUnavailableError).retryable).toBe(true);
    const { data } = await world.events.list(runId);
    expect(data.filter((entry) => entry.eventType === 'hook_received')).toHaveLength(1);
  });

  it('resumeHook delivers once, and the workflow receives the payload once', async () => {
    const world = await open();
    // The lost append may also have queued the run's wake claimed by this process; with its
    // answer gone, that claim is only handed on when its lease runs out (a worker's
    // orchestration lease, five minutes by default), so the lease is short here.
    worker = createWorker({ world, workflows: [collect], orchestrationLeaseMs: 2000, logger: false });
    await worker.start();
    const client = createClient({ world });
    const key = unique();
    const run = await client.start(collect, key);
    const hook = await client.waitForHook(`signal:${key}`, { timeoutMs: 20_000 });
    const marker = `signal-${unique()}`;
    const dropped = proxy!.dropCommitReplyAfter(marker);
    expect(await client.resumeHook(`signal:${key}`, marker)).toEqual({ runId: run.id, hookId: hook.hookId });
    await dropped;
    const deliveries = async () => {
      const events = [];
      for (let page = await world.events.list(run.id, { limit: 1000 }); ; ) {
        events.push(...page.data);
        if (!page.hasMore) break;
        page = await world.events.list(run.id, { afterSeq: events.length, limit: 1000 });
      }
      return events.filter((event) => event.eventType === 'hook_received' && event.correlationId === hook.hookId);
    };
    expect(await deliveries()).toHaveLength(1);
    await client.resumeHook(`done:${key}`, null);
    expect(await run.result({ timeoutMs: 20_000 })).toEqual([marker]);
    expect(await deliveries()).toHaveLength(1);
  });
});
