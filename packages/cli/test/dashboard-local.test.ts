import { createClient } from '@cairn/core';
import { createLocalWorld } from '@cairn/world-local';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Browser, openBrowser, readTimeline } from './browser.js';
import { greet, order } from './fixtures/orders.mjs';
import { fixture, type RunningCairn, startCairn, temporaryDirectory } from './helpers.js';

/*
 * The dashboard in a real headless Chromium against real runs on world-local. A worker
 * holds the directory and serves the writable dashboard (`cairn worker --dashboard`);
 * `cairn dashboard` beside it follows the same directory read-only.
 */
describe('dashboard on world-local', () => {
  let worker: RunningCairn;
  let viewer: RunningCairn;
  let workerUrl: string;
  let viewerUrl: string;
  let browser: Browser;

  beforeAll(async () => {
    const directory = await temporaryDirectory();
    const local = createLocalWorld({ dir: directory });
    const client = createClient({ world: local });
    await client.start(order, { id: '1', items: ['lamp', 'desk'] }, { id: 'order-1' });
    await client.start(order, { id: '2', items: ['chair'] }, { id: 'order-2' });
    await client.start(greet, 'ada', { id: 'greet-ada' });
    await local.close();
    const env = { CAIRN_WORLD: `file:${directory}` };
    worker = startCairn(['worker', '--module', fixture('orders.mjs'), '--dashboard', '0'], env);
    await worker.waitForOutput(/dashboard at (http:\S+)/);
    workerUrl = /dashboard at (http:\S+)/.exec(worker.stderr())![1]!;
    viewer = startCairn(['dashboard', '--port', '0'], env);
    await viewer.waitForOutput(/^http:\S+\n/, 'stdout');
    viewerUrl = viewer.stdout().trim();
    browser = await openBrowser();
  });

  afterAll(async () => {
    await browser?.close();
    expect(await viewer?.stop('SIGTERM')).toBe(0);
    expect(await worker?.stop('SIGTERM')).toBe(0);
  });

  it('lists runs with counts by status and filters them, read-only beside the worker', async () => {
    const { page } = browser;
    await page.goto(viewerUrl);
    await page.waitForSelector('#read-only:not([hidden])');
    expect(await page.textContent('#world-name')).toMatch(/^local:/);
    // The greet run completes and both orders wait on their hooks; the list polls until then.
    await page.waitForSelector('button[data-filter="completed"]:text("completed (1)")');
    await page.waitForSelector('button[data-filter="running"]:text("running (2)")');
    expect(await page.textContent('button[data-filter="all"]')).toBe('all (3)');
    await page.click('button[data-filter="running"]');
    await page.waitForSelector('button[data-filter="running"].active');
    const running = await page.$$eval('#runs tr[data-run-id]', (rows) =>
      rows.map((row) => row.getAttribute('data-run-id')),
    );
    expect(running).toEqual(['order-2', 'order-1']);
    await browser.screenshot('local-run-list');
  });

  it("shows a run's timeline: retried step, sleep and waiting hook; no actions when read-only", async () => {
    const { page } = browser;
    await page.goto(`${viewerUrl}#/runs/order-1`);
    await page.waitForSelector('#timeline .timeline-row[data-kind="hook"][data-status="waiting"]');
    const rows = await readTimeline(page);
    const charge = rows.find((row) => row.label === 'charge')!;
    expect(charge).toMatchObject({ kind: 'step', status: 'completed' });
    // Two attempts with the backoff between them: the first failed, the second completed.
    expect(charge.segments.map((segment) => [segment.kind, segment.outcome, segment.attempt])).toEqual([
      ['attempt', 'failed', '1'],
      ['backoff', null, null],
      ['attempt', 'completed', '2'],
    ]);
    expect(rows.find((row) => row.kind === 'sleep')).toMatchObject({ status: 'completed' });
    expect(rows.find((row) => row.kind === 'sleep')?.label).toMatch(/^sleep until \+\d/);
    expect(rows.find((row) => row.kind === 'hook')).toMatchObject({ label: 'hook approve:1', status: 'waiting' });
    // Rows follow the order things happened in.
    expect(rows.map((row) => row.kind)).toEqual(['step', 'sleep', 'hook']);
    expect(await page.$('#cancel-run')).toBeNull();
    expect(await page.$('button.resume')).toBeNull();
    expect(await page.textContent('#steps')).toContain('card declined for order 1');
    expect(await page.$$eval('#events tr[data-seq]', (rows) => rows.length)).toBeGreaterThanOrEqual(8);
    await browser.screenshot('local-run-waiting');
  });

  it('resumes a hook from the worker dashboard and updates live, child run and stream included', async () => {
    const { page } = browser;
    await page.goto(`${workerUrl}#/runs/order-1`);
    await page.waitForSelector('button.resume[data-token="approve:1"]');
    await page.click('button[data-stream="progress"]');
    await page.waitForFunction(() =>
      document.getElementById('stream-output')?.textContent?.includes('charged receipt-1'),
    );
    // A second tab on the read-only dashboard follows the same run from beside the worker.
    const viewerPage = await page.context().newPage();
    await viewerPage.goto(`${viewerUrl}#/runs/order-1`);
    await viewerPage.waitForSelector('#timeline .timeline-row[data-kind="hook"][data-status="waiting"]');
    const seqBefore = await page.getAttribute('#page', 'data-last-seq');
    await page.fill('textarea[data-token="approve:1"]', '{"ok": true}');
    await page.click('button.resume[data-token="approve:1"]');
    // No reload: the page follows the log and redraws when the run completes.
    await page.waitForSelector('h1 [data-status="completed"]');
    expect(Number(await page.getAttribute('#page', 'data-last-seq'))).toBeGreaterThan(Number(seqBefore));
    await page.waitForFunction(() => document.getElementById('stream-output')?.dataset.ended === 'true');
    expect(await page.textContent('#stream-output')).toBe('order 1 started\ncharged receipt-1\napproved true\ndone\n');
    const rows = await readTimeline(page);
    expect(rows.map((row) => `${row.kind}:${row.kind === 'sleep' ? 'sleep' : row.label}:${row.status}`)).toEqual([
      'step:charge:completed',
      'sleep:sleep:completed',
      'hook:hook approve:1:received',
      'step:pack:completed',
      'step:pack:completed',
      'child:child notify:completed',
    ]);
    // The read-only tab saw the run complete too, without a reload, by following the journal.
    await viewerPage.waitForSelector('h1 [data-status="completed"]');
    expect((await readTimeline(viewerPage)).map((row) => row.kind)).toEqual(rows.map((row) => row.kind));
    await viewerPage.close();
    await browser.screenshot('local-run-completed');
    await browser.screenshot('local-run-completed-top', { viewport: true });

    await page.click('#timeline a');
    await page.waitForSelector('#run-id:text("order-1~child:notify#0")');
    const childRows = await readTimeline(page);
    expect(childRows.map((row) => `${row.kind}:${row.kind === 'sleep' ? 'sleep' : row.label}:${row.status}`)).toEqual([
      'sleep:sleep:completed',
      'step:send:completed',
    ]);
  });

  it('cancels a run from the worker dashboard', async () => {
    const { page } = browser;
    await page.goto(`${workerUrl}#/runs/order-2`);
    await page.click('#cancel-run');
    await page.waitForSelector('h1 [data-status="cancelled"]');
    expect(await page.textContent('.summary')).toContain('cancelled: cancelled from the dashboard');
    expect((await readTimeline(page)).find((row) => row.kind === 'hook')?.status).toBe('disposed');
    await browser.screenshot('local-run-cancelled');
  });
});
