import { randomBytes } from 'node:crypto';
import { createClient } from '@cairn/core';
import type { Hook, Run, Step } from '@cairn/core/world';
import { createPostgresWorld, migrations, type PostgresWorld } from '@cairn/world-postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { order } from './fixtures/orders.mjs';
import { cairnJson, eventually, fixture, type RunningCairn, runCairn, startCairn } from './helpers.js';

/*
 * The built `cairn` bin against real runs on a real PostgreSQL. The store is shared, so
 * every command works beside a running worker, cancel and resume included.
 */
describe('cairn on world-postgres', () => {
  const schema = `cli_${randomBytes(4).toString('hex')}`;
  const url = `${inject('connectionString')}?schema=${schema}`;
  const env = { CAIRN_WORLD: url };
  let world: PostgresWorld;
  let worker: RunningCairn;

  beforeAll(() => {
    world = createPostgresWorld({ connectionString: inject('connectionString'), schema, migrate: false });
  });
  afterAll(async () => {
    await worker?.stop('SIGKILL');
    await world.close();
  });

  it('migrates the schema, once', async () => {
    // Every migration the World ships, whatever their number.
    const versions = migrations.map((migration) => migration.version);
    const latest = Math.max(...versions);
    const first = await runCairn(['migrate'], env);
    expect(first.code).toBe(0);
    expect(first.stderr).toMatch(
      new RegExp(`migrate: applied ${versions.join(', ')} to schema ${schema}; now at version ${latest}`),
    );
    const second = await runCairn(['migrate', '--json'], env);
    expect(second.code).toBe(0);
    expect(second.stderr).toMatch(new RegExp(`already at version ${latest}`));
    expect(JSON.parse(second.stdout)).toEqual({ schema, applied: [], version: latest });
    expect((await runCairn(['runs', 'list'], env)).stdout).toBe('(none)\n');
  });

  it('inspects, follows, resumes and cancels runs while a worker runs', async () => {
    const client = createClient({ world });
    await client.start(order, { id: '1', items: ['lamp', 'desk'] }, { id: 'order-1' });
    await client.start(order, { id: '2', items: ['chair'] }, { id: 'order-2' });
    worker = startCairn(['worker', '--module', fixture('orders.mjs')], env);
    await worker.waitForOutput(/worker started on postgres/);

    for (const runId of ['order-1', 'order-2']) {
      await eventually(async () => {
        const hooks = await cairnJson<Hook[]>(['hooks', runId], env);
        return hooks.some((hook) => hook.status === 'active') ? true : undefined;
      }, `${runId} to wait on its hook`);
    }
    const follow = startCairn(['streams', 'read', 'order-1', 'progress', '--follow', '--json'], env);
    await follow.waitForOutput(/charged receipt-1/, 'stdout');

    const steps = await cairnJson<Step[]>(['steps', 'order-1'], env);
    expect(steps.find((step) => step.stepName === 'charge')).toMatchObject({ status: 'completed', retries: 1 });

    const resume = await runCairn(['resume', 'approve:1', '{"ok":true}'], env);
    expect(resume).toMatchObject({ code: 0, stdout: 'delivered to hook hook:hook#0 of run order-1\n' });
    const cancel = await runCairn(['cancel', 'order-2', '--json'], env);
    expect(cancel.code).toBe(0);
    expect(JSON.parse(cancel.stdout)).toMatchObject({ runId: 'order-2', status: 'cancelled' });

    const finished = await eventually(async () => {
      const run = await cairnJson<Run>(['runs', 'get', 'order-1'], env);
      return run.status === 'completed' ? run : undefined;
    }, 'order-1 to complete');
    expect(finished.output).toMatchObject({ receipt: 'receipt-1', approved: true, notified: 'mail for order 1' });

    expect(await follow.exit()).toBe(0);
    const chunks = follow
      .stdout()
      .trimEnd()
      .split('\n')
      .map((line) => JSON.parse(line) as { index: number; text: string });
    expect(chunks.map((chunk) => [chunk.index, chunk.text])).toEqual([
      [0, 'order 1 started\n'],
      [1, 'charged receipt-1\n'],
      [2, 'approved true\n'],
      [3, 'done\n'],
    ]);

    const table = await runCairn(['runs', 'list', '--status', 'completed'], env);
    expect(table.stdout).toMatch(/order-1~child:notify#0\s+notify\s+completed/);
    expect(table.stdout).toMatch(/order-1\s+order\s+completed/);
    expect(table.stdout).not.toMatch(/order-2/);
  });

  it('replays against PostgreSQL and stops the worker gracefully', async () => {
    const same = await runCairn(['replay', '--module', fixture('orders.mjs'), '--all'], env);
    expect(same.code).toBe(0);
    expect(same.stderr).toMatch(/replayed: 3 runs, 0 diverged/);
    const changed = await runCairn(['replay', '--module', fixture('orders-changed.mjs'), '--all'], env);
    expect(changed.code).toBe(1);
    expect(changed.stderr).toContain('diverges from 2 recorded run(s)');

    expect(await worker.stop('SIGINT')).toBe(0);
    expect(worker.stderr()).toMatch(/SIGINT: stopping[\s\S]*worker stopped/);
  });
});
