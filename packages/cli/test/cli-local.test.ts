import { createClient } from '@cairn/core';
import type { Hook, Run, Step, WorldEvent } from '@cairn/core/world';
import { createLocalWorld } from '@cairn/world-local';
import { beforeAll, describe, expect, it } from 'vitest';
import { greet, order } from './fixtures/orders.mjs';
import {
  cairnJson,
  eventually,
  fixture,
  type RunningCairn,
  runCairn,
  startCairn,
  temporaryDirectory,
} from './helpers.js';

/*
 * The built `cairn` bin against real runs on world-local: a worker process holds the
 * directory while the read commands follow it read-only; cancel and resume need the
 * directory, so they are refused while the worker runs and work once it has stopped.
 */
describe('cairn on world-local', () => {
  let world: string;
  let worker: RunningCairn;
  const env = () => ({ CAIRN_WORLD: world });

  beforeAll(async () => {
    const directory = await temporaryDirectory();
    world = `file:${directory}`;
    // Runs are created before the worker takes the directory; the worker then picks them up.
    const local = createLocalWorld({ dir: directory });
    const client = createClient({ world: local });
    await client.start(order, { id: '1', items: ['lamp', 'desk'] }, { id: 'order-1' });
    await client.start(order, { id: '2', items: ['chair'] }, { id: 'order-2' });
    await client.start(greet, 'ada', { id: 'greet-ada' });
    await client.start(greet, 'alan', { id: 'greet-alan' });
    await local.close();

    worker = startCairn(['worker', '--module', fixture('orders.mjs'), '--concurrency', '4'], env());
    await worker.waitForOutput(/worker started on local:/);
    // Both orders reach their approval hook: read through the CLI while the worker holds the directory.
    for (const runId of ['order-1', 'order-2']) {
      await eventually(async () => {
        const hooks = await cairnJson<Hook[]>(['hooks', runId], env());
        return hooks.some((hook) => hook.status === 'active') ? true : undefined;
      }, `${runId} to wait on its hook`);
    }
    await eventually(async () => {
      const completed = await cairnJson<Run[]>(['runs', 'list', '--status', 'completed'], env());
      return completed.length === 2 ? true : undefined;
    }, 'the greet runs to complete');
  });

  it('lists runs as a table and as JSON, with status, workflow and since filters', async () => {
    const table = await runCairn(['runs', 'list'], env());
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^RUN ID\s+WORKFLOW\s+STATUS\s+CREATED\s+DURATION$/);
    // Newest first.
    expect(lines.slice(1).map((line) => line.split(/\s+/)[0])).toEqual([
      'greet-alan',
      'greet-ada',
      'order-2',
      'order-1',
    ]);
    expect(table.stdout).toMatch(/order-1\s+order\s+running/);

    const completed = await cairnJson<Run[]>(['runs', 'list', '--status', 'completed'], env());
    expect(completed.map((run) => run.runId).sort()).toEqual(['greet-ada', 'greet-alan']);
    const orders = await cairnJson<Run[]>(['runs', 'list', '--workflow', 'order'], env());
    expect(orders.map((run) => run.runId)).toEqual(['order-2', 'order-1']);
    expect((await cairnJson<Run[]>(['runs', 'list', '--since', '1h'], env())).length).toBe(4);
    const future = await runCairn(['runs', 'list', '--since', '2999-01-01T00:00:00Z'], env());
    expect(future.stdout).toBe('(none)\n');
    expect((await cairnJson<Run[]>(['runs', 'list', '--limit', '1'], env())).map((run) => run.runId)).toEqual([
      'greet-alan',
    ]);
  });

  it('shows one run, its events, steps, hooks and streams while the worker holds the directory', async () => {
    const run = await runCairn(['runs', 'get', 'order-1'], env());
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^run\s+order-1$/m);
    expect(run.stdout).toMatch(/^status\s+running$/m);

    const events = await cairnJson<WorldEvent[]>(['events', 'order-1'], env());
    const types = events.map((event) => event.eventType);
    for (const type of ['run_created', 'step_retrying', 'wait_created', 'wait_completed', 'hook_created']) {
      expect(types).toContain(type);
    }
    expect((await runCairn(['events', 'order-1'], env())).stdout).toMatch(/^SEQ\s+TIME\s+TYPE\s+CORRELATION\s+DATA$/m);

    const steps = await cairnJson<Step[]>(['steps', 'order-1'], env());
    const charge = steps.find((step) => step.stepName === 'charge')!;
    expect(charge).toMatchObject({ status: 'completed', retries: 1 });
    expect(charge.error?.message).toContain('card declined for order 1');
    const stepTable = await runCairn(['steps', 'order-1'], env());
    expect(stepTable.stdout).toMatch(/step:charge#0\s+charge\s+completed\s+2\s+1\s/);

    const hooks = await runCairn(['hooks', 'order-1'], env());
    expect(hooks.stdout).toMatch(/hook:hook#0\s+approve:1\s+active\s+0/);

    const stream = await runCairn(['streams', 'read', 'order-1', 'progress'], env());
    expect(stream).toMatchObject({ code: 0, stdout: 'order 1 started\ncharged receipt-1\n' });
    const listed = await runCairn(['streams', 'list', 'order-1'], env());
    expect(listed.stdout).toMatch(/progress\s+2\s+no/);
  });

  it('refuses cancel and resume while a worker holds the directory, naming the way through', async () => {
    const resume = await runCairn(['resume', 'approve:1', '{"ok":true}'], env());
    expect(resume.code).toBe(1);
    expect(resume.stderr).toMatch(/locked by live process \d+/);
    expect(resume.stderr).toContain('cairn worker --dashboard');
    const cancel = await runCairn(['cancel', 'order-2'], env());
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toMatch(/locked by live process/);
  });

  it('stops the worker gracefully, then resumes, cancels and finishes runs with a new worker', async () => {
    const follow = startCairn(['streams', 'read', 'order-1', 'progress', '--follow'], env());
    await follow.waitForOutput(/charged receipt-1\n/, 'stdout');

    expect(await worker.stop('SIGTERM')).toBe(0);
    expect(worker.stderr()).toMatch(/SIGTERM: stopping/);
    expect(worker.stderr()).toMatch(/worker stopped/);

    const resume = await runCairn(['resume', 'approve:1', '{"ok":true}'], env());
    expect(resume).toMatchObject({ code: 0, stdout: 'delivered to hook hook:hook#0 of run order-1\n' });
    const cancel = await runCairn(['cancel', 'order-2', '--reason', 'customer changed their mind'], env());
    expect(cancel).toMatchObject({ code: 0, stdout: 'run order-2 is cancelled\n' });
    // The cancelled run's hook is gone: resume says so at once instead of waiting for a holder.
    const started = Date.now();
    const again = await runCairn(['resume', 'approve:2', '{"ok":true}'], env());
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/No live hook held token "approve:2"/);
    expect(Date.now() - started).toBeLessThan(20_000);

    worker = startCairn(['worker', '--module', fixture('orders.mjs')], env());
    await worker.waitForOutput(/worker started/);
    const finished = await eventually(async () => {
      const run = await cairnJson<Run>(['runs', 'get', 'order-1'], env());
      return run.status === 'completed' ? run : undefined;
    }, 'order-1 to complete');
    expect(finished.output).toMatchObject({ receipt: 'receipt-1', approved: true, notified: 'mail for order 1' });
    expect((await cairnJson<Run>(['runs', 'get', 'order-2'], env())).cancelReason).toBe('customer changed their mind');

    // The follower saw every chunk as it was written, and ended when the run closed its streams.
    expect(await follow.exit()).toBe(0);
    expect(follow.stdout()).toBe('order 1 started\ncharged receipt-1\napproved true\ndone\n');
    const child = await cairnJson<Run[]>(['runs', 'list', '--workflow', 'notify'], env());
    expect(child).toMatchObject([{ runId: 'order-1~child:notify#0', parentRunId: 'order-1', status: 'completed' }]);
  });

  it('replays recorded runs against the code: 0 when it agrees, 1 on divergence', async () => {
    const same = await runCairn(['replay', '--module', fixture('orders.mjs'), '--all'], env());
    expect(same.code).toBe(0);
    expect(same.stderr).toMatch(/replayed: 5 runs, 0 diverged/);
    expect(same.stdout).toMatch(/order-1\s+order\s+completed\s+ok/);

    const changed = await runCairn(['replay', '--module', fixture('orders-changed.mjs'), '--run', 'order-1'], env());
    expect(changed.code).toBe(1);
    expect(changed.stdout).toMatch(/order-1\s+order\s+completed\s+diverged\s+Replay of run order-1 diverged/);
    // The full message names the recorded step and what the new code asked for.
    expect(changed.stderr).toMatch(/^order-1: .*charge.*charge-v2/m);
    expect(changed.stderr).toContain('diverges from 1 recorded run(s): order-1');

    const json = await runCairn(['replay', '--module', fixture('orders-changed.mjs'), '--all', '--json'], env());
    expect(json.code).toBe(1);
    const reports = JSON.parse(json.stdout) as { runId: string; verdict: string }[];
    expect(reports.map((report) => [report.runId, report.verdict]).sort()).toEqual([
      ['order-1', 'diverged'],
      ['order-2', 'diverged'],
    ]);
    await worker.stop('SIGINT');
  });
});
