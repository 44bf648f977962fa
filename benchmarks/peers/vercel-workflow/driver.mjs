// Vercel's Workflow DevKit (`workflow`) behind the driver protocol (../../src/driver-kit.mjs),
// on @workflow/world-local (variant 'local') or @workflow/world-postgres (variant 'postgres').
//
// No framework: at startup the driver compiles workflows/bench.ts with @workflow/builders
// (build.mjs), mounts the two generated route handlers (flow and step) on a node:http server
// on 127.0.0.1, points the World's queue at that server, installs the World with setWorld()
// and starts runs with start() from `workflow/api`. Queue, client and handlers all live in
// this one process, the way `next dev` (world-local) or a self-hosted Node server
// (world-postgres) runs them.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { preciseNow, runDriver } from '../../src/driver-kit.mjs';
import { build } from './build.mjs';

const here = new URL('.', import.meta.url);
const versionOf = (name) =>
  JSON.parse(readFileSync(new URL(`node_modules/${name}/package.json`, here), 'utf8')).version;
const version = versionOf('workflow');

/** Mounts the generated handlers the way a framework would, at /.well-known/workflow/v1/{flow,step}. */
function startHandlerServer(routes) {
  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', `http://${req.headers.host ?? '127.0.0.1'}`);
      const route = url.pathname.split('/').at(-1);
      const handler = routes[route];
      if (!url.pathname.startsWith('/.well-known/workflow/v1/') || !handler) {
        res.writeHead(404).end();
        return;
      }
      const chunks = [];
      for await (const chunk of req) chunks.push(chunk);
      const headers = new Headers();
      for (const [name, value] of Object.entries(req.headers)) {
        if (Array.isArray(value)) for (const item of value) headers.append(name, item);
        else if (value !== undefined) headers.set(name, value);
      }
      const hasBody = req.method !== 'GET' && req.method !== 'HEAD' && chunks.length > 0;
      const request = new Request(url, {
        method: req.method,
        headers,
        body: hasBody ? Buffer.concat(chunks) : undefined,
      });
      const response = await handler(request);
      const body = Buffer.from(await response.arrayBuffer());
      res.writeHead(response.status, Object.fromEntries(response.headers));
      res.end(body);
    } catch (error) {
      console.error('[vercel-workflow driver] handler error', error);
      if (!res.headersSent) res.writeHead(500);
      res.end(String(error));
    }
  });
  // The queue's agents keep sockets alive for 30 s and deliveries can be long: do not let
  // Node's 5 s keep-alive or request timeouts cut them.
  server.keepAliveTimeout = 60_000;
  server.headersTimeout = 0;
  server.requestTimeout = 0;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Creates world-postgres's tables and graphile-worker's schema: its documented `bootstrap` bin. */
async function bootstrapPostgres(databaseUrl) {
  const bin = new URL('node_modules/@workflow/world-postgres/bin/setup.js', here);
  const { stdout, stderr } = await promisify(execFile)(process.execPath, [bin.pathname], {
    env: { ...process.env, WORKFLOW_POSTGRES_URL: databaseUrl },
  });
  if (stdout.trim()) console.error(stdout.trim());
  if (stderr.trim()) console.error(stderr.trim());
}

/**
 * Learns when a run ends from the World's own event writes (run_completed / run_failed /
 * run_cancelled go through world.events.create in this process), instead of
 * `run.returnValue`, which polls the run every 1000 ms. The result is then read with
 * `run.returnValue`, which returns on its first read once the run is terminal.
 */
function watchTerminalEvents(world) {
  const terminalTypes = new Set(['run_completed', 'run_failed', 'run_cancelled']);
  const ended = new Set();
  const waiters = new Map();
  const create = world.events.create.bind(world.events);
  world.events.create = async (runId, data, ...rest) => {
    const result = await create(runId, data, ...rest);
    if (terminalTypes.has(data?.eventType)) {
      const waiter = waiters.get(runId);
      if (waiter) waiter();
      else ended.add(runId);
    }
    return result;
  };
  return async function resultOf(run) {
    if (ended.has(run.runId)) ended.delete(run.runId);
    else {
      await new Promise((resolve) => {
        // Belt and braces: should a terminal event ever bypass world.events.create, the
        // status is also checked once a second (never the path that fired in testing).
        const check = setInterval(async () => {
          const status = await run.status.catch(() => 'unknown');
          if (['completed', 'failed', 'cancelled'].includes(status)) waiters.get(run.runId)?.();
        }, 1_000);
        waiters.set(run.runId, () => {
          waiters.delete(run.runId);
          clearInterval(check);
          resolve();
        });
      });
    }
    return await run.returnValue;
  };
}

await runDriver(async ({ databaseUrl, dataDir, variant = 'local' }) => {
  const outDir = await build();

  // The handler bundles call getWorldHandlers() when imported, so the World is installed
  // first; the server's port must be known before the World (its queue calls back on it).
  const routes = {};
  const server = await startHandlerServer(routes);
  const baseUrl = `http://127.0.0.1:${server.address().port}`;
  process.env.WORKFLOW_LOCAL_BASE_URL = baseUrl; // world-postgres's delivery target

  const { setWorld } = await import('workflow/runtime');
  let world;
  if (variant === 'postgres') {
    if (!databaseUrl) throw new Error('the postgres variant needs a database URL');
    process.env.WORKFLOW_TARGET_WORLD = '@workflow/world-postgres';
    process.env.WORKFLOW_POSTGRES_URL = databaseUrl;
    await bootstrapPostgres(databaseUrl);
    const { createWorld } = await import('@workflow/world-postgres');
    // Graphile Worker runs at most queueConcurrency deliveries (flow or step) at once.
    const queueConcurrency = Number(process.env.WORKFLOW_POSTGRES_WORKER_CONCURRENCY) || 10;
    const maxPoolSize = Number(process.env.WORKFLOW_POSTGRES_MAX_POOL_SIZE) || Math.max(10, queueConcurrency + 2);
    world = createWorld({ connectionString: databaseUrl, queueConcurrency, maxPoolSize });
  } else {
    process.env.WORKFLOW_TARGET_WORLD = 'local';
    const worldDir = join(dataDir, 'workflow-data');
    process.env.WORKFLOW_LOCAL_DATA_DIR = worldDir;
    const { createLocalWorld } = await import('@workflow/world-local');
    world = createLocalWorld({ dataDir: worldDir, baseUrl });
  }
  setWorld(world);
  const resultOf = watchTerminalEvents(world);

  routes.flow = (await import(pathToFileURL(join(outDir, 'workflows.mjs')).href)).POST;
  routes.step = (await import(pathToFileURL(join(outDir, 'steps.mjs')).href)).POST;
  const workflows = await import(pathToFileURL(join(outDir, 'client.mjs')).href);
  const { start, getHookByToken, resumeHook } = await import('workflow/api');
  await world.start?.();

  const runToResult = async (workflow, args) => resultOf(await start(workflow, args));
  let hookCounter = 0;

  return {
    system: `vercel-workflow-${variant}`,
    version,
    operations: {
      sequential: ({ steps, payloadBytes }) => runToResult(workflows.sequential, [steps, payloadBytes]),
      concurrent: ({ steps, payloadBytes, mode }) => runToResult(workflows.concurrent, [steps, payloadBytes, mode]),
      map: ({ items, maxConcurrency }) => runToResult(workflows.fanOut, [items, maxConcurrency]),
      many: async ({ workflows: count, steps }) => {
        const runs = await Promise.all(Array.from({ length: count }, () => start(workflows.sequential, [steps, 0])));
        const results = await Promise.all(runs.map(resultOf));
        return results.filter((completed) => completed === steps).length;
      },
      hookResume: async () => {
        const token = `hook-${process.pid}-${++hookCounter}-${Date.now()}`;
        const run = await start(workflows.waitForHook, [token]);
        // The hook exists once the World can find it by its token.
        const deadline = Date.now() + 30_000;
        for (;;) {
          const hook = await getHookByToken(token).catch((error) => {
            if (error?.name === 'HookNotFoundError') return undefined;
            throw error;
          });
          if (hook) break;
          if (Date.now() > deadline) throw new Error(`hook ${token} never appeared`);
          await new Promise((resolve) => setTimeout(resolve, 2));
        }
        const resumed = preciseNow();
        await resumeHook(token, { value: 1 });
        const value = await resultOf(run);
        const resumeToResultMs = preciseNow() - resumed;
        if (value !== 1) throw new Error(`hook workflow returned ${value}`);
        return { resumeToResultMs };
      },
      streamFirstChunk: async () => {
        const started = preciseNow();
        const run = await start(workflows.stream, [16, 16]);
        const reader = run.getReadable().getReader();
        const first = await reader.read();
        const firstChunkMs = preciseNow() - started;
        if (first.done) throw new Error('the stream closed without a chunk');
        while (!(await reader.read()).done);
        await resultOf(run);
        return { firstChunkMs };
      },
      streamThroughput: async ({ totalBytes, chunkBytes }) => {
        const run = await start(workflows.stream, [totalBytes, chunkBytes]);
        let bytes = 0;
        for await (const chunk of run.getReadable()) bytes += chunk.length;
        const written = await resultOf(run);
        if (written !== totalBytes) throw new Error(`the step wrote ${written} bytes`);
        return { bytes };
      },
      stepTimestamps: async ({ steps }) => ({
        timestamps: await runToResult(workflows.timestamps, [steps]),
      }),
    },
    async close() {
      await world.close?.();
      await new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      });
    },
  };
});
