import { createRequire } from 'node:module';
import { createClient, type RunHandle } from '@cairn/core';
import { WorldUnavailableError } from '@cairn/core/world';
import {
  formatReport,
  hookSleep,
  hookStorm,
  runStorm,
  type StormShape,
  stepStorm,
  stormSeed,
} from '@cairn/engine-suite/storms';
import { createPostgresWorld } from '@cairn/world-postgres';
import { type PostgresServer, startPostgres } from '@cairn/world-postgres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain } from '../src/workflows.js';

// The database's own view of its sessions, for diagnosing a stall; pg comes with world-postgres.
interface AdminClient {
  connect(): Promise<void>;
  query(sql: string): Promise<{ rows: unknown[] }>;
  end(): Promise<void>;
}
const pg = createRequire(import.meta.resolve('@cairn/world-postgres'))('pg') as {
  Client: new (config: { connectionString: string }) => AdminClient;
};

import { spawnWorkers, type WorkerProcesses } from './worker-processes.js';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres('cairn_e2e');
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

const freshSchema = (label: string) => `e2e_${label.replace(/-/g, '_')}_${Math.random().toString(36).slice(2, 8)}`;
const suite = (schema: string) => ({
  name: 'postgres, 3 worker processes',
  createWorld: () => createPostgresWorld({ connectionString: server.connectionString, schema }),
});

/** Storm outcome as the tests judge it. */
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

describe('postgres: race storms across worker processes', () => {
  // biome-ignore lint/suspicious/noExplicitAny: the shapes differ in input and output.
  const shapes: StormShape<any, any>[] = [hookSleep, stepStorm, hookStorm];
  for (const shape of shapes) {
    it(`${shape.name}: three workers, resume bursts from the test process`, async () => {
      const schema = freshSchema(shape.name);
      let workers: WorkerProcesses | undefined;
      try {
        const report = await runStorm(suite(schema), true, shape, stormSeed(), {
          startWorkers: async () => {
            workers = await spawnWorkers(3, { connectionString: server.connectionString, schema });
          },
        });
        expectClean(report);
      } finally {
        await workers?.stopAll();
      }
    });
  }

  it('kill -9 of one worker mid-run: the others finish every run, each step recorded once', async () => {
    const schema = freshSchema('kill');
    let workers: WorkerProcesses | undefined;
    try {
      const report = await runStorm(suite(schema), true, stepStorm, stormSeed(), {
        startWorkers: async () => {
          workers = await spawnWorkers(3, { connectionString: server.connectionString, schema });
        },
        duringRun: async (harness, runIds) => {
          // Kill once the storm is well under way: some runs have steps in flight on the victim.
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

describe('postgres: database restart mid-run', () => {
  it('workers reconnect and every run completes, each step recorded exactly once', async () => {
    const schema = freshSchema('restart');
    const world = createPostgresWorld({ connectionString: server.connectionString, schema });
    const client = createClient({ world });
    const workers = await spawnWorkers(3, { connectionString: server.connectionString, schema });
    try {
      const length = 25;
      const runs: RunHandle<number>[] = [];
      for (let index = 0; index < 6; index++) runs.push(await client.start(chain, length));
      // Restart once every run has made some progress, and none has finished.
      for (;;) {
        const views = await Promise.all(runs.map((run) => world.runs.get(run.id)));
        if (views.every((view) => view.lastSeq >= 8)) {
          expect(views.map((view) => view.status)).toEqual(runs.map(() => 'running'));
          break;
        }
        await world.events.watch(runs[0]!.id, views[0]!.lastSeq, AbortSignal.timeout(200)).catch(() => {});
      }
      await server.restart();
      // The test's own client sees the outage too; it waits it out like any caller would.
      const results = await Promise.all(runs.map((run) => resultThroughOutage(run))).catch(async (error: unknown) => {
        // Say where each run stands, so a failure here can be diagnosed from CI output.
        for (const run of runs) {
          const events = await run.events();
          const tail = events.slice(-5).map((event) => `${event.seq}:${event.eventType}:${event.correlationId ?? ''}`);
          console.error(`run ${run.id} ${await run.status()} after ${events.length} events: ${tail.join(' ')}`);
        }
        const admin = new pg.Client({ connectionString: server.connectionString });
        await admin.connect();
        const sessions = await admin.query(
          `SELECT pid, state, wait_event_type, wait_event, now() - xact_start AS in_transaction, left(query, 90) AS query
             FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`,
        );
        console.error(JSON.stringify(sessions.rows, null, 1));
        await admin.end();
        throw error;
      });
      expect(results).toEqual(runs.map(() => length));
      // The outage must not have killed a worker: they reconnected, they did not get replaced.
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

/** run.result(), retried while the database is unreachable: only connection failures are retried. */
async function resultThroughOutage<Output>(run: RunHandle<Output>): Promise<Output> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      return await run.result({ signal: AbortSignal.timeout(Math.max(1, deadline - Date.now())) });
    } catch (error) {
      const transient =
        WorldUnavailableError.is(error) || /ECONNREFUSED|terminat|shutting down|Connection/i.test(String(error));
      if (!transient || Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}
