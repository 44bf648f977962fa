// Cairn behind the driver protocol (../driver-kit.mjs), on world-local (variant 'local'),
// world-postgres (variant 'postgres'), world-postgres behind world-http (variant 'http') or
// world-redis (variant 'redis', `databaseUrl` then being a redis:// URL with the key prefix as
// its fragment): one worker and one client in this process, the way
// an application embeds Cairn. Peers run the same way in their own processes.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient, createHook, createWorker, getWritable, map, step, workflow } from '@cairn/core';
import { createHttpWorld, createWorldServer } from '@cairn/world-http';
import { createLocalWorld } from '@cairn/world-local';
import { createPostgresWorld } from '@cairn/world-postgres';
import { createRedisWorld } from '@cairn/world-redis';
import { payloadOf, preciseNow, runDriver } from '../driver-kit.mjs';

const version = JSON.parse(
  readFileSync(new URL('../../../packages/core/package.json', import.meta.url), 'utf8'),
).version;

// ---------------------------------------------------------------------------------------
// Steps and workflows. Step bodies are no-ops apart from what the protocol asks them to carry.

const echo = step('bench.echo', async (payload, index) => (payload === '' ? index : payloadOf(payload.length, index)));
const stamp = step('bench.stamp', async () => preciseNow());
const writeChunks = step('bench.write-chunks', async (totalBytes, chunkBytes) => {
  const writer = getWritable().getWriter();
  for (let written = 0; written < totalBytes; written += chunkBytes) {
    await writer.write(payloadOf(Math.min(chunkBytes, totalBytes - written), written));
  }
  await writer.close();
  return totalBytes;
});

const sequential = workflow('bench.sequential', async ({ steps, payloadBytes }) => {
  let payload = payloadOf(payloadBytes);
  let completed = 0;
  for (let index = 0; index < steps; index++) {
    const result = await echo(payload, index);
    if (payloadBytes > 0) payload = result;
    completed++;
  }
  return completed;
});

const concurrent = workflow('bench.concurrent', async ({ steps, payloadBytes, mode }) => {
  const calls = Array.from({ length: steps }, (_, index) => echo(payloadOf(payloadBytes, index), index));
  if (mode === 'race') {
    await Promise.race(calls);
    return 1;
  }
  return (await Promise.all(calls)).length;
});

const fanOut = workflow('bench.map', async ({ items, maxConcurrency }) => {
  const indexes = Array.from({ length: items }, (_, index) => index);
  return (await map(indexes, (index) => echo('', index), { maxConcurrency })).length;
});

const waitForHook = workflow('bench.hook', async ({ token }) => {
  const hook = createHook({ token });
  const payload = await hook;
  hook.dispose();
  return payload.value;
});

const stream = workflow('bench.stream', async ({ totalBytes, chunkBytes }) => writeChunks(totalBytes, chunkBytes));

const timestamps = workflow('bench.timestamps', async ({ steps }) => {
  const stamps = [];
  for (let index = 0; index < steps; index++) stamps.push(await stamp());
  return stamps;
});

// ---------------------------------------------------------------------------------------

let runCounter = 0;
const nextId = (kind) => `${kind}-${process.pid}-${++runCounter}`;

async function readAll(run) {
  let bytes = 0;
  for await (const chunk of run.readable()) bytes += chunk.length;
  return bytes;
}

/** Waits for the hook to be live, woken by the World's watch rather than a fixed pause. */
async function untilHookIsLive(world, runId, token) {
  const signal = AbortSignal.timeout(30_000);
  let afterSeq = 0;
  for (;;) {
    const page = await world.events.list(runId, { afterSeq, limit: 1000 });
    if (page.data.some((event) => event.eventType === 'hook_created' && event.eventData?.token === token)) return;
    afterSeq = page.data.at(-1)?.seq ?? afterSeq;
    if (!page.hasMore) await world.events.watch(runId, afterSeq, signal);
  }
}

/** PostgreSQL behind a world-http server on loopback, and the client World that reaches it. */
async function httpWorld(databaseUrl) {
  const backing = createPostgresWorld({ connectionString: databaseUrl, poolSize: 20 });
  await backing.open();
  const token = randomBytes(24).toString('base64url');
  const server = createWorldServer({ world: backing, tokens: [{ token, role: 'worker' }] });
  const { url } = await server.listen({ port: 0, host: '127.0.0.1' });
  const world = await createHttpWorld({ url, token });
  return {
    world,
    async close() {
      await world.close();
      await server.close();
      await backing.close();
    },
  };
}

await runDriver(async ({ databaseUrl, dataDir, variant = 'local' }) => {
  const served = variant === 'http' ? await httpWorld(databaseUrl) : undefined;
  const world =
    served?.world ??
    (variant === 'postgres'
      ? createPostgresWorld({ connectionString: databaseUrl, poolSize: 20 })
      : variant === 'redis'
        ? createRedisWorld({ url: databaseUrl.replace(/#.*$/, ''), prefix: new URL(databaseUrl).hash.slice(1) })
        : createLocalWorld({ dir: join(dataDir, 'world') }));
  await world.open?.();
  // Concurrency 100: every step of a 50-wide Promise.all or map can be in flight at once,
  // as it is in the peers, which run steps inline without a limit.
  const worker = createWorker({
    world,
    workflows: [sequential, concurrent, fanOut, waitForHook, stream, timestamps],
    concurrency: 100,
  });
  await worker.start();
  const client = createClient({ world });
  const runToResult = async (definition, input, kind) =>
    (await client.start(definition, input, { id: nextId(kind) })).result();

  return {
    system: `cairn-${variant}`,
    version,
    operations: {
      sequential: (params) => runToResult(sequential, params, 'sequential'),
      concurrent: (params) => runToResult(concurrent, params, 'concurrent'),
      map: (params) => runToResult(fanOut, params, 'map'),
      many: async ({ workflows, steps }) => {
        const runs = await Promise.all(
          Array.from({ length: workflows }, () =>
            client.start(sequential, { steps, payloadBytes: 0 }, { id: nextId('many') }),
          ),
        );
        const results = await Promise.all(runs.map((run) => run.result()));
        return results.filter((completed) => completed === steps).length;
      },
      hookResume: async () => {
        const token = nextId('hook');
        const run = await client.start(waitForHook, { token }, { id: nextId('hook-run') });
        await untilHookIsLive(world, run.id, token);
        const resumed = preciseNow();
        await client.resumeHook(token, { value: 1 });
        const value = await run.result();
        if (value !== 1) throw new Error(`hook workflow returned ${value}`);
        return { resumeToResultMs: preciseNow() - resumed };
      },
      streamFirstChunk: async () => {
        const started = preciseNow();
        const run = await client.start(stream, { totalBytes: 16, chunkBytes: 16 }, { id: nextId('stream-first') });
        const reader = run.readable()[Symbol.asyncIterator]();
        const first = await reader.next();
        const firstChunkMs = preciseNow() - started;
        if (first.done) throw new Error('the stream closed without a chunk');
        await reader.return?.();
        await run.result();
        return { firstChunkMs };
      },
      streamThroughput: async ({ totalBytes, chunkBytes }) => {
        const run = await client.start(stream, { totalBytes, chunkBytes }, { id: nextId('stream') });
        return { bytes: await readAll(run) };
      },
      stepTimestamps: async ({ steps }) => ({
        timestamps: await runToResult(timestamps, { steps }, 'timestamps'),
      }),
    },
    async close() {
      await worker.stop();
      await (served ?? world).close();
    },
  };
});
