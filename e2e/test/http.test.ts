import { randomBytes } from 'node:crypto';
import { createClient, type RunHandle } from '@cairn/core';
import { createPostgresWorld } from '@cairn/world-postgres';
import { type PostgresServer, startPostgres } from '@cairn/world-postgres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chain } from '../src/workflows.js';
import { spawnServer } from './server-process.js';
import { spawnWorkers } from './worker-processes.js';

let database: PostgresServer;
beforeAll(async () => {
  database = await startPostgres('cairn_e2e_http');
}, 60_000);
afterAll(async () => {
  await database?.stop();
});

describe('world-http: three HTTP-only workers, server killed mid-run', () => {
  it('workers reconnect to the restarted server and every run completes, each step recorded once', async () => {
    const schema = `e2e_http_${randomBytes(4).toString('hex')}`;
    const token = randomBytes(24).toString('base64url');
    const settings = { connectionString: database.connectionString, schema, token };
    let server = await spawnServer(settings);
    const port = Number(new URL(server.url).port);
    // The test itself reads PostgreSQL directly; only the workers go through HTTP.
    const world = createPostgresWorld({ connectionString: database.connectionString, schema });
    const client = createClient({ world });
    const workers = await spawnWorkers(3, { ...settings, http: { url: server.url, token } });
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
        await world.events.watch(runs[0]!.id, views[0]!.lastSeq, AbortSignal.timeout(200));
      }
      await server.kill();
      server = await spawnServer({ ...settings, port });
      const results = await Promise.all(runs.map((run) => run.result()));
      expect(results).toEqual(runs.map(() => length));
      expect(workers.processes.map((child) => child.exitCode ?? child.signalCode)).toEqual([null, null, null]);
      for (const run of runs) {
        const events = await run.events();
        expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
        const completed = events.filter((event) => event.eventType === 'step_completed').map((e) => e.correlationId);
        expect(completed).toHaveLength(length);
        expect(new Set(completed).size).toBe(length);
      }
    } finally {
      await workers.stopAll();
      await server.stop();
      await world.close();
    }
  });
});
