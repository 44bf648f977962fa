import { createClient, workflow } from '@cairn/core';
import type { Run } from '@cairn/core/world';
import { createLocalWorld } from '@cairn/world-local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, openBrowser } from './browser.js';
import { audited } from './fixtures/forgotten.mjs';
import {
  cairnJson,
  eventually,
  fixture,
  type RunningCairn,
  runCairn,
  startCairn,
  temporaryDirectory,
} from './helpers.js';

/** A workflow no worker module exports: what starting the wrong name looks like. */
const undeployed = workflow('undeployed', async () => 'never');

/*
 * A run whose workflow the worker lacks, and a parent whose child's workflow it lacks: the
 * worker records why on each, and `cairn runs get` and the dashboard show it.
 */
describe('why a run waits, on world-local', () => {
  let worker: RunningCairn;
  let dashboardUrl: string;
  let browser: Browser;
  const env: Record<string, string> = {};

  beforeAll(async () => {
    const directory = await temporaryDirectory();
    env.CAIRN_WORLD = `file:${directory}`;
    const local = createLocalWorld({ dir: directory });
    const client = createClient({ world: local });
    await client.start(undeployed, undefined, { id: 'lonely-1' });
    await client.start(audited, 'a-1', { id: 'parent-1' });
    await local.close();
    worker = startCairn(['worker', '--module', fixture('forgotten.mjs'), '--dashboard', '0'], env);
    await worker.waitForOutput(/dashboard at (http:\S+)/);
    dashboardUrl = /dashboard at (http:\S+)/.exec(worker.stderr())![1]!;
    browser = await openBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    expect(await worker?.stop('SIGTERM')).toBe(0);
  });

  it('cairn runs get shows why a pending run waits', async () => {
    const run = await eventually(async () => {
      const found = await cairnJson<Run>(['runs', 'get', 'lonely-1'], env);
      return found.waiting ? found : undefined;
    }, 'lonely-1 to say why it waits');
    expect(run).toMatchObject({ status: 'pending', waiting: { reason: 'workflow-not-registered' } });
    expect(run.waiting?.workerWorkflows).toEqual(['audited']);
    const table = await runCairn(['runs', 'get', 'lonely-1'], env);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /^waiting\s+No worker that took this run has workflow "undeployed" .*\(since \S+Z\)$/m,
    );
    expect(table.stdout).toContain('createWorker({ workflows })');
  });

  it('cairn runs get on a parent shows the reason of the child it waits on', async () => {
    const table = await eventually(async () => {
      const result = await runCairn(['runs', 'get', 'parent-1'], env);
      return /^waiting on\s/m.test(result.stdout) ? result.stdout : undefined;
    }, 'parent-1 to show its waiting child');
    expect(table).toMatch(/^status\s+running$/m);
    expect(table).toMatch(
      /^waiting on\s+child run parent-1~\S+ \(audit\): No worker that took this run has workflow "audit"/m,
    );
    expect(table).toContain('Its parent run parent-1 waits for it.');
    // The parent's own view is unchanged: it is running, not waiting to start.
    expect((await cairnJson<Run>(['runs', 'get', 'parent-1'], env)).waiting).toBeUndefined();
  });

  it('the dashboard shows both reasons on the run pages', async () => {
    const { page } = browser;
    await page.goto(`${dashboardUrl}#/runs/lonely-1`);
    await page.waitForSelector('#waiting');
    expect(await page.textContent('#waiting')).toMatch(
      /^Waiting since .+: No worker that took this run has workflow "undeployed"/,
    );
    await page.goto(`${dashboardUrl}#/runs/parent-1`);
    await page.waitForSelector('#waiting a');
    expect(await page.textContent('#waiting')).toContain('(audit): No worker that took this run has workflow "audit"');
    await browser.screenshot('local-run-waiting-on-child');
  });
});
