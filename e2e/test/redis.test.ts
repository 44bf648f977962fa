import { randomBytes } from 'node:crypto';
import { createClient, type RunHandle } from '@cairn/core';
import {
  formatReport,
  hookSleep,
  hookStorm,
  runStorm,
  type StormShape,
  stepStorm,
  stormSeed,
} from '@cairn/engine-suite/storms';
import { createRedisWorld, type RedisWorldOptions } from '@cairn/world-redis';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '@cairn/world-redis/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain } from '../src/workflows.js';
import { spawnWorkers, type WorkerProcesses } from './worker-processes.js';

let server: RedisServer;
let cluster: RedisCluster;
beforeAll(async () => {
  [server, cluster] = await Promise.all([startRedis(), startRedisCluster(3)]);
}, 60_000);
afterAll(async () => {
  await Promise.all([server?.stop(), cluster?.stop()]);
});

type Topology = 'single' | 'cluster';
const optionsFor = (topology: Topology, label: string): RedisWorldOptions => ({
  ...(topology === 'single' ? { url: server.url } : { cluster: { nodes: cluster.nodes } }),
  prefix: `e2e-${label}-${randomBytes(4).toString('hex')}`,
});
const suite = (options: RedisWorldOptions, topology: Topology) => ({
  name: `redis (${topology}), 3 worker processes`,
  createWorld: () => createRedisWorld(options),
});

function expectClean(report: Awaited<ReturnType<typeof runStorm>>) {
  console.log(formatReport(report));
  expect(report.problems).toEqual([]);
  expect({
    completed: report.completed,
    divergence: report.divergence,
    stuck: report.stuck,
    duplicates: report.duplicates,
    inconsistent: report.inconsistent,
  }).toEqual({ completed: report.runs, divergence: 0, stuck: 0, duplicates: 0, inconsistent: 0 });
}

describe.each<Topology>(['single', 'cluster'])('redis (%s): race storms across worker processes', (topology) => {
  // biome-ignore lint/suspicious/noExplicitAny: the shapes differ in input and output.
  const shapes: StormShape<any, any>[] = [hookSleep, stepStorm, hookStorm];
  for (const shape of shapes) {
    it(`${shape.name}: three workers, resume bursts from the test process`, async () => {
      const options = optionsFor(topology, shape.name);
      let workers: WorkerProcesses | undefined;
      try {
        const report = await runStorm(suite(options, topology), true, shape, stormSeed(), {
          startWorkers: async () => {
            workers = await spawnWorkers(3, { redis: options });
          },
        });
        expectClean(report);
      } finally {
        await workers?.stopAll();
      }
    });
  }

  it('kill -9 of one worker mid-run: the others finish every run, each step recorded once', async () => {
    const options = optionsFor(topology, 'kill');
    let workers: WorkerProcesses | undefined;
    try {
      const report = await runStorm(suite(options, topology), true, stepStorm, stormSeed(), {
        startWorkers: async () => {
          workers = await spawnWorkers(3, { redis: options });
        },
        duringRun: async (harness, runIds) => {
          for (;;) {
            const runs = await Promise.all(runIds.map((runId) => harness.world.runs.get(runId)));
            if (runs.reduce((sum, run) => sum + run.lastSeq, 0) >= runIds.length * 12) break;
            await harness.world.events.watch(runIds[0]!, runs[0]!.lastSeq, AbortSignal.timeout(200)).catch(() => {});
          }
          await workers!.kill(0);
        },
      });
      expectClean(report);
      expect(workers!.processes[0]!.signalCode).toBe('SIGKILL');
    } finally {
      await workers?.stopAll();
    }
  });
});

describe('redis: server killed and restarted mid-run', () => {
  it('workers reconnect and every run completes, each step recorded exactly once', async () => {
    const options = optionsFor('single', 'restart');
    const world = createRedisWorld(options);
    const client = createClient({ world });
    const workers = await spawnWorkers(3, { redis: options });
    try {
      const length = 25;
      const runs: RunHandle<number>[] = [];
      for (let index = 0; index < 6; index++) runs.push(await client.start(chain, length));
      for (;;) {
        const views = await Promise.all(runs.map((run) => world.runs.get(run.id)));
        if (views.every((view) => view.lastSeq >= 8)) {
          expect(views.map((view) => view.status)).toEqual(runs.map(() => 'running'));
          break;
        }
        await world.events.watch(runs[0]!.id, views[0]!.lastSeq, AbortSignal.timeout(200)).catch(() => {});
      }
      // SIGKILL, then a restart from the AOF: the harshest restart there is.
      await server.kill();
      await server.start();
      const results = await Promise.all(runs.map((run) => resultThroughOutage(run)));
      expect(results).toEqual(runs.map(() => length));
      expect(workers.processes.map((child) => child.exitCode ?? child.signalCode)).toEqual([null, null, null]);
      for (const run of runs) {
        const events = await run.events();
        expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
        const completed = events
          .filter((event) => event.eventType === 'step_completed')
          .map((event) => event.correlationId);
        expect(completed).toHaveLength(length);
        expect(new Set(completed).size).toBe(length);
        const created = events
          .filter((event) => event.eventType === 'step_created')
          .map((event) => event.correlationId);
        expect(new Set(created).size).toBe(created.length);
      }
    } finally {
      await workers.stopAll();
      await world.close();
    }
  });
});

/** run.result(), retried while Redis is unreachable: only connection failures are retried. */
async function resultThroughOutage<Output>(run: RunHandle<Output>): Promise<Output> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      return await run.result({ signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
    } catch (error) {
      const transient = /ECONNREFUSED|EPIPE|ECONNRESET|Connection|max retries|LOADING|Stream isn't writeable/i.test(
        String(error),
      );
      if (!transient || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
