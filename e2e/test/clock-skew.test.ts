import { createClient } from '@cairn/core';
import { createPostgresWorld } from '@cairn/world-postgres';
import { type PostgresServer, startPostgres } from '@cairn/world-postgres/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nap, tally } from '../src/workflows.js';
import { spawnWorkers } from './worker-processes.js';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres('cairn_skew');
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

const freshSchema = (label: string) => `skew_${label}_${Math.random().toString(36).slice(2, 8)}`;

describe('postgres: worker clocks that disagree with the database', () => {
  it('ends a sleep armed by one worker and handled by another whose clock is 2 s behind', async () => {
    const schema = freshSchema('sleep');
    const world = createPostgresWorld({ connectionString: server.connectionString, schema });
    const client = createClient({ world });
    const punctual = await spawnWorkers(1, { connectionString: server.connectionString, schema });
    let late: Awaited<ReturnType<typeof spawnWorkers>> | undefined;
    try {
      const run = await client.start(nap, 1500);
      // The punctual worker creates the wait and its timer, then leaves.
      for (;;) {
        const events = await run.events();
        if (events.some((event) => event.eventType === 'wait_created')) break;
        await world.events.watch(run.id, events.length, AbortSignal.timeout(500)).catch(() => {});
      }
      await punctual.stopAll();
      late = await spawnWorkers(1, { connectionString: server.connectionString, schema, clockOffset: '-2s' });
      const outcome = await run.result({ signal: AbortSignal.timeout(15_000) }).catch((error: unknown) => error);
      expect(outcome).toBe('rested');
      const events = await run.events();
      const created = events.find((event) => event.eventType === 'wait_created')!;
      const completed = events.find((event) => event.eventType === 'wait_completed')!;
      expect(completed.createdAt).toBeGreaterThanOrEqual((created.eventData as { resumeAt: number }).resumeAt);
    } finally {
      await punctual.stopAll();
      await late?.stopAll();
      await world.close();
    }
  });

  it('keeps a long run moving when the only worker clock is 1.5 s behind the database', async () => {
    const schema = freshSchema('steps');
    const world = createPostgresWorld({ connectionString: server.connectionString, schema });
    const client = createClient({ world });
    const workers = await spawnWorkers(1, { connectionString: server.connectionString, schema, clockOffset: '-1.5s' });
    try {
      const length = 80;
      const run = await client.start(tally, length);
      // Each refused speculative batch costs a lone write, a cold replay and a retry; with
      // every batch refused this run took minutes. A stuck detector, not a speed test.
      const outcome = await run.result({ signal: AbortSignal.timeout(30_000) }).catch((error: unknown) => error);
      expect(outcome).toBe((length * (length - 1)) / 2);
      const events = await run.events();
      expect(events.filter((event) => event.eventType === 'step_completed')).toHaveLength(length);
    } finally {
      await workers.stopAll();
      await world.close();
    }
  });
});
