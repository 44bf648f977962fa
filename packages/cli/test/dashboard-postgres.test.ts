import { randomBytes } from 'node:crypto';
import { createClient } from '@cairn/core';
import { createPostgresWorld, migrate, type PostgresWorld } from '@cairn/world-postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Browser, openBrowser, readTimeline } from './browser.js';
import { order } from './fixtures/orders.mjs';
import { fixture, type RunningCairn, startCairn } from './helpers.js';

/*
 * `cairn dashboard` on PostgreSQL, beside a separate worker process: the store is shared,
 * so this dashboard is writable and its actions reach the worker through the database.
 */
describe('dashboard on world-postgres', () => {
  const schema = `dashboard_${randomBytes(4).toString('hex')}`;
  const connectionString = inject('connectionString');
  const env = { CAIRN_WORLD: `${connectionString}?schema=${schema}` };
  let world: PostgresWorld;
  let worker: RunningCairn;
  let dashboard: RunningCairn;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    await migrate({ connectionString, schema });
    world = createPostgresWorld({ connectionString, schema });
    const client = createClient({ world });
    await client.start(order, { id: '1', items: ['lamp'] }, { id: 'order-1' });
    await client.start(order, { id: '2', items: ['chair'] }, { id: 'order-2' });
    worker = startCairn(['worker', '--module', fixture('orders.mjs')], env);
    dashboard = startCairn(['dashboard', '--port', '0'], env);
    await worker.waitForOutput(/worker started/);
    await dashboard.waitForOutput(/^http:\S+\n/, 'stdout');
    url = dashboard.stdout().trim();
    browser = await openBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    expect(await dashboard?.stop('SIGINT')).toBe(0);
    expect(await worker?.stop('SIGINT')).toBe(0);
    await world?.close();
  });

  it('follows a run live from its retry to its hook, resumes it and sees it complete', async () => {
    const { page } = browser;
    await page.goto(`${url}#/runs/order-1`);
    expect(await page.isHidden('#read-only')).toBe(true);
    // The page may open at any point of the run; it redraws as the log grows.
    await page.waitForSelector('button.resume[data-token="approve:1"]');
    const waiting = await readTimeline(page);
    expect(waiting.find((row) => row.label === 'charge')?.segments.map((segment) => segment.outcome)).toEqual([
      'failed',
      null,
      'completed',
    ]);
    expect(waiting.find((row) => row.kind === 'hook')?.status).toBe('waiting');
    await browser.screenshot('postgres-run-waiting');

    await page.fill('textarea[data-token="approve:1"]', '{"ok": true}');
    await page.click('button.resume[data-token="approve:1"]');
    await page.waitForSelector('h1 [data-status="completed"]');
    const done = await readTimeline(page);
    expect(done.map((row) => `${row.kind}:${row.status}`)).toEqual([
      'step:completed',
      'sleep:completed',
      'hook:received',
      'step:completed',
      'child:completed',
    ]);
    await browser.screenshot('postgres-run-completed');
  });

  it('cancels from the dashboard and counts runs by status', async () => {
    const { page } = browser;
    await page.goto(`${url}#/runs/order-2`);
    await page.waitForSelector('button.resume[data-token="approve:2"]');
    await page.click('#cancel-run');
    await page.waitForSelector('h1 [data-status="cancelled"]');
    await page.goto(`${url}#/`);
    await page.waitForSelector('button[data-filter="cancelled"]:text("cancelled (1)")');
    // order-1 and its child completed.
    expect(await page.textContent('button[data-filter="completed"]')).toBe('completed (2)');
    await page.selectOption('#workflow-filter', 'notify');
    await page.waitForFunction(() => document.querySelectorAll('#runs tr[data-run-id]').length === 1);
    expect(await page.getAttribute('#runs tr[data-run-id]', 'data-run-id')).toBe('order-1~child:notify#0');
    await browser.screenshot('postgres-run-list');
  });
});
