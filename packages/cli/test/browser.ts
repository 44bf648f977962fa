import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's Chromium; `npm test` installs it when missing (scripts/bootstrap.mjs). */
export const chromiumPath = '/usr/bin/chromium';

/** Screenshots are kept here (gitignored) for a person to look at after a run. */
export const artifactsDirectory = fileURLToPath(new URL('../test-artifacts/', import.meta.url));

export interface Browser {
  page: Page;
  /** Saves `<name>.png`: the whole page, or with `viewport` only what fits in the window. */
  screenshot(name: string, options?: { viewport?: boolean }): Promise<void>;
  close(): Promise<void>;
}

/** A headless Chromium with a fresh profile, closed (and its profile removed) by `close`. */
export async function openBrowser(): Promise<Browser> {
  const profile = await mkdtemp(join(tmpdir(), 'cairn-chromium-'));
  await mkdir(artifactsDirectory, { recursive: true });
  const context: BrowserContext = await chromium.launchPersistentContext(profile, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1100, height: 900 },
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(30_000);
  return {
    page,
    screenshot: async (name, options = {}) => {
      await page.screenshot({ path: join(artifactsDirectory, `${name}.png`), fullPage: !options.viewport });
    },
    close: async () => {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** What the timeline shows: one entry per row, with its segments. */
export interface TimelineRow {
  kind: string;
  label: string;
  status: string;
  segments: { kind: string; outcome: string | null; attempt: string | null; width: number }[];
}

export function readTimeline(page: Page): Promise<TimelineRow[]> {
  return page.$$eval('#timeline .timeline-row', (rows) =>
    rows.map((row) => ({
      kind: row.getAttribute('data-kind') ?? '',
      label: row.getAttribute('data-label') ?? '',
      status: row.getAttribute('data-status') ?? '',
      segments: [...row.querySelectorAll('rect.segment')].map((rect) => ({
        kind: rect.getAttribute('data-kind') ?? '',
        outcome: rect.getAttribute('data-outcome'),
        attempt: rect.getAttribute('data-attempt'),
        width: Number(rect.getAttribute('width')),
      })),
    })),
  );
}
