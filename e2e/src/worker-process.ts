// A worker in its own process: what an operator runs on each machine. It hosts every storm
// shape, so the test process can aim any storm at it, and stops gracefully on SIGTERM.
import { createWorker } from '@cairn/core';
import type { World } from '@cairn/core/world';
import { hookSleep, hookStorm, stepStorm } from '@cairn/engine-suite/storms';
import { createHttpWorld } from '@cairn/world-http';
import { createPostgresWorld } from '@cairn/world-postgres';
import { createRedisWorld, type RedisWorldOptions } from '@cairn/world-redis';
import { chain, nap, tally } from './workflows.js';

/**
 * The World to work on: over HTTP when CAIRN_E2E_HTTP_URL is set (the worker then holds no
 * database credentials at all, only the server's url and a token), Redis when
 * CAIRN_E2E_REDIS holds its options as JSON, PostgreSQL otherwise.
 */
async function openWorld(): Promise<World> {
  const httpUrl = process.env.CAIRN_E2E_HTTP_URL;
  const httpToken = process.env.CAIRN_E2E_HTTP_TOKEN;
  if (httpUrl && httpToken) return createHttpWorld({ url: httpUrl, token: httpToken });
  const redis = process.env.CAIRN_E2E_REDIS;
  if (redis) return createRedisWorld(JSON.parse(redis) as RedisWorldOptions);
  const connectionString = process.env.CAIRN_E2E_CONNECTION;
  const schema = process.env.CAIRN_E2E_SCHEMA;
  if (!connectionString || !schema) {
    throw new Error(
      'set CAIRN_E2E_HTTP_URL and CAIRN_E2E_HTTP_TOKEN, CAIRN_E2E_REDIS, or CAIRN_E2E_CONNECTION and CAIRN_E2E_SCHEMA',
    );
  }
  return createPostgresWorld({ connectionString, schema });
}

const world = await openWorld();
const worker = createWorker({
  world,
  workflows: [hookSleep.workflow, stepStorm.workflow, hookStorm.workflow, chain, nap, tally],
  runLease: process.env.CAIRN_E2E_RUN_LEASE !== 'false',
  concurrency: 10,
  // Short, so the runs of a SIGKILLed worker move to the others within the test's time.
  orchestrationLeaseMs: Number(process.env.CAIRN_E2E_LEASE_MS ?? 3000),
  logger: {
    warn: (message, details) => process.stderr.write(`[worker ${process.pid}] ${message} ${JSON.stringify(details)}\n`),
  },
});
await worker.start();
process.stdout.write(`READY ${process.pid}\n`);

process.once('SIGTERM', () => {
  void worker
    .stop()
    .then(() => world.close())
    .finally(() => process.exit(0));
});
