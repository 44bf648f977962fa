import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { World } from '@cairn/core/world';
import type { FuzzOptions } from '@cairn/engine-suite';
import { createLocalWorld } from '@cairn/world-local';
import { WebSocket } from 'undici';
import { afterAll } from 'vitest';
import {
  createHttpWorld,
  createWorldServer,
  type HttpWorld,
  type WorldServer,
  type WorldServerOptions,
} from '../src/index.js';

/** Fresh tokens per test file: one of each role. */
export const tokens = {
  worker: `worker-${randomBytes(16).toString('hex')}`,
  read: `read-${randomBytes(16).toString('hex')}`,
};

export interface Served {
  url: string;
  /** The World behind the server, to check what really landed. */
  backing: World;
  server: ReturnType<typeof createWorldServer>;
}

const servedBy = new WeakMap<World, Served>();

/** Puts `backing` behind a server on a free loopback port. */
export async function serve(backing: World, options: Partial<WorldServerOptions> = {}): Promise<Served> {
  const server = createWorldServer({
    world: backing,
    tokens: [
      { token: tokens.worker, role: 'worker' },
      { token: tokens.read, role: 'read' },
    ],
    ...options,
  });
  const { url } = await server.listen({ port: 0, host: '127.0.0.1' });
  return { url, backing, server };
}

/**
 * A client World in front of `backing`. Closing it also closes the server and the backing
 * World, so a suite that closes each World it gets leaves nothing running.
 */
export async function httpWorldInFront(backing: World, options: Partial<WorldServerOptions> = {}): Promise<HttpWorld> {
  // Opened (and for PostgreSQL, migrated) before the suite's clock-sensitive tests start.
  await backing.runs.list({ limit: 1 });
  const served = await serve(backing, options);
  const client = await createHttpWorld({ url: served.url, token: tokens.worker });
  const close = client.close.bind(client);
  const world: HttpWorld = Object.assign(Object.create(Object.getPrototypeOf(client)), client, {
    async close() {
      await close();
      await served.server.close();
      await backing.close();
    },
  });
  servedBy.set(world, served);
  return world;
}

/**
 * Clients in front of a World over a store (a directory, a schema, a key prefix) that
 * `open` opens: `served(store)` puts a World over `store` behind a server of its own, and
 * `reopen(world)` opens the store a served World used behind a new server, as a restarted
 * deployment would (the conformance suite's `reopen`).
 */
export function servedStores<Store>(open: (store: Store) => World) {
  const storeOf = new WeakMap<World, Store>();
  const served = async (store: Store): Promise<World> => {
    const world = await httpWorldInFront(open(store));
    storeOf.set(world, store);
    return world;
  };
  return { served, reopen: (world: World) => served(storeOf.get(world)!) };
}

/** A second client on the same server: what another process would open. */
export function openPeer(world: World): Promise<HttpWorld> {
  return createHttpWorld({ url: servedBy.get(world)!.url, token: tokens.worker });
}

export function servedFor(world: World): Served {
  return servedBy.get(world)!;
}

const directories: string[] = [];
afterAll(() => Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true }))));

/** A fresh temporary directory, removed when the file's tests end. */
export async function temporaryDirectory(): Promise<string> {
  directories.push(await mkdtemp(join(tmpdir(), 'cairn-http-')));
  return directories.at(-1)!;
}

/** A world-local in a fresh temporary directory. */
export async function localWorld(): Promise<World> {
  return createLocalWorld({ dir: await temporaryDirectory() });
}

/** A server whose test sees each request arrive; see `serveWatched`. */
export interface WatchedServer {
  backing: World;
  worldServer: WorldServer;
  url: string;
  /** Resolves the next time the server takes a request for `route` (call it before the request). */
  arrived(route: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * A world-local behind a World server mounted in a `node:http` server of the test's own,
 * which sees each request arrive, with the default settings and a worker token.
 */
export async function serveWatched(): Promise<WatchedServer> {
  const backing = await localWorld();
  const worldServer = createWorldServer({ world: backing, tokens: [{ token: tokens.worker, role: 'worker' }] });
  const arrivals: { route: string; resolve: () => void }[] = [];
  const server = createServer((request, response) => {
    worldServer.handler(request, response);
    const index = arrivals.findIndex((arrival) => request.url === `/v1/${arrival.route}`);
    if (index >= 0) arrivals.splice(index, 1)[0]!.resolve();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    backing,
    worldServer,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrived: (route) => new Promise<void>((resolve) => arrivals.push({ route, resolve })),
    async close() {
      await worldServer.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await backing.close();
    },
  };
}

/**
 * A call channel opened by hand on the server at `url` (its http:// address) with a bearer
 * `token`, once it is open: for tests that send frames themselves.
 */
export async function openRawChannel(url: string, token: string): Promise<WebSocket> {
  const socket = new WebSocket(`${url.replace(/^http/, 'ws')}/v1/channel`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await new Promise((resolve, reject) => {
    socket.onopen = resolve;
    socket.onerror = reject;
  });
  return socket;
}

/**
 * The fuzzer's `world` and `afterCase` for worker processes that speak only HTTP: each case
 * gets a server of its own in this process, in front of the World `openBacking` makes, and
 * both are closed when the case ends, so a soak does not pile them up.
 */
export function servedPerCase(openBacking: () => World): Pick<FuzzOptions, 'world' | 'afterCase'> {
  const stopServer = new Map<string, () => Promise<void>>();
  return {
    world: async () => {
      const backing = openBacking();
      const { url, server } = await serve(backing);
      stopServer.set(url, async () => {
        await server.close();
        await backing.close();
      });
      return {
        module: new URL('../dist/index.js', import.meta.url).href,
        factory: 'createHttpWorld',
        options: { url, token: tokens.worker },
      };
    },
    afterCase: async ({ options }) => {
      const { url } = options as { url: string };
      await stopServer.get(url)?.();
      stopServer.delete(url);
    },
  };
}
