import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createClient, createWorker, step, workflow } from '@cairn/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpWorld, createWorldServer } from '../src/index.js';
import { localWorld, tokens } from './helpers.js';

const echo = step('round-trips.echo', async (index: number) => index);
const chain = workflow('round-trips.chain', async (count: number) => {
  for (let index = 0; index < count; index++) await echo(index);
  return count;
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A World server mounted in a plain Node server that counts the requests to each route. */
async function countingServer() {
  const backing = await localWorld();
  const worldServer = createWorldServer({ world: backing, tokens: [{ token: tokens.worker, role: 'worker' }] });
  const requests = new Map<string, number>();
  const server: Server = createServer((request, response) => {
    const route = (request.url ?? '').split('/').pop()!;
    requests.set(route, (requests.get(route) ?? 0) + 1);
    worldServer.handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  cleanups.push(async () => {
    await worldServer.close();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await backing.close();
  });
  return { url, requests };
}

describe('world-http: requests per run', () => {
  it('waits for a run started here with one watch and no read, however many steps it takes', async () => {
    const { url, requests } = await countingServer();
    const world = await createHttpWorld({ url, token: tokens.worker });
    cleanups.push(() => world.close());
    const worker = createWorker({ world, workflows: [chain], logger: false });
    await worker.start();
    cleanups.push(() => worker.stop());
    const client = createClient({ world });
    const run = await client.start(chain, 10);
    requests.clear();
    expect(await run.result()).toBe(10);
    // Each request crosses the network; a wait that woke for every step would cost the
    // caller and the server a round trip per step for nothing.
    expect(requests.get('events.watch') ?? 0).toBeLessThanOrEqual(2);
    // The server hands over the ended run with the watch's answer.
    expect(requests.get('runs.get') ?? 0).toBe(0);
  });
});
