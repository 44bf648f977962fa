import type { World } from '@cairn/core/world';
import { WorldUnavailableError } from '@cairn/core/world';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HttpWorld } from '../src/index.js';
import { type GatewayProxy, worldBehindGatewayProxy } from './gateway-proxy.js';

let backing: World;
let proxy: GatewayProxy;
let client: HttpWorld;
let close: () => Promise<void>;
beforeAll(async () => {
  ({ backing, proxy, client, close } = await worldBehindGatewayProxy());
});
afterAll(() => close());

/** Resolves once the proxy has refused `route` at least `times` times; rejects if `caller` fails first. */
async function refusedAtLeast(route: string, times: number, caller: Promise<unknown>): Promise<void> {
  let failure: { error: unknown } | undefined;
  caller.catch((error: unknown) => {
    failure = { error };
  });
  while ((proxy.refused.get(route) ?? 0) < times) {
    if (failure) throw failure.error;
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe('world-http: a proxy in front of a restarting server', () => {
  it('a plain 502, 503 or 504 from the proxy is WorldUnavailableError, which callers retry', async () => {
    for (const status of [502, 503, 504]) {
      proxy.failing.set('runs.list', status);
      const error = await client.runs.list().catch((caught: unknown) => caught);
      expect(WorldUnavailableError.is(error), `${status}: ${String(error)}`).toBe(true);
      expect((error as WorldUnavailableError).retryable).toBe(true);
    }
    proxy.failing.delete('runs.list');
    expect((await client.runs.list()).data).toEqual([]);
  });

  it('events.watch asks again through a gateway error instead of failing', async () => {
    const { run } = await backing.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    proxy.refused.clear();
    proxy.failing.set('events.watch', 502);
    const watched = client.events.watch(run.runId, run.lastSeq);
    await refusedAtLeast('events.watch', 2, watched);
    proxy.failing.delete('events.watch');
    await backing.events.create(run.runId, { eventType: 'run_started' });
    const tail = await watched;
    expect(tail === undefined || tail.lastSeq > run.lastSeq).toBe(true);
  });

  it('a live stream read resumes through a gateway error, with no chunk lost or repeated', async () => {
    const { run } = await backing.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    await backing.streams.write(run.runId, 'out', 'one');
    proxy.refused.clear();
    proxy.failing.set('streams.read', 503);
    const chunks: unknown[] = [];
    const reading = (async () => {
      for await (const chunk of client.streams.read(run.runId, 'out')) chunks.push(chunk.data);
    })();
    await refusedAtLeast('streams.read', 2, reading);
    proxy.failing.delete('streams.read');
    await backing.streams.write(run.runId, 'out', 'two');
    await backing.streams.close(run.runId, 'out');
    await reading;
    expect(chunks).toEqual(['one', 'two']);
  });
});

describe('world-http: a read from the tail across a reconnect', () => {
  it('counts a negative fromIndex back from the tail when the read starts, not when it reconnects', async () => {
    const { run } = await backing.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    await backing.streams.write(run.runId, 'tail', 'zero');
    proxy.refused.clear();
    proxy.failing.set('streams.read', 502);
    const chunks: unknown[] = [];
    const reading = (async () => {
      for await (const chunk of client.streams.read(run.runId, 'tail', { fromIndex: -1 })) chunks.push(chunk.data);
    })();
    await refusedAtLeast('streams.read', 1, reading);
    // Written while the read is reconnecting: all of them come after the tail it started from.
    for (const data of ['one', 'two', 'three']) await backing.streams.write(run.runId, 'tail', data);
    await backing.streams.close(run.runId, 'tail');
    proxy.failing.delete('streams.read');
    await reading;
    expect(chunks).toEqual(['zero', 'one', 'two', 'three']);
  });
});
