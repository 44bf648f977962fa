// Every TypeScript block in README.md, docs/*.md and the packages' READMEs is compiled
// (strict, against the built packages' types) and run as a program of its own, and must exit
// cleanly on its own. Blocks using world-postgres get a fresh database on a throwaway server.
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type PostgresServer, startPostgres } from '@cairn/world-postgres/testing';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { type CodeBlock, documentationFiles, expectedOutput, extractBlocks } from './docs/extract.js';
import { pending, preludes } from './docs/fixtures.js';
import { type BlockOutcome, type CompiledBlock, compileBlocks, runBlock } from './docs/run-block.js';

const packageDirectory = resolve(fileURLToPath(import.meta.url), '../..');
const root = resolve(packageDirectory, '..');
const blocks: CodeBlock[] = documentationFiles(root).flatMap((file) => extractBlocks(root, file));
const runnable = blocks.filter((block) => block.notRun === undefined);
const compiled = compileBlocks(runnable, preludes, join(packageDirectory, '.tmp', 'doc-blocks'));

const needsPostgres = (block: CodeBlock) => /DATABASE_URL|@cairn\/world-postgres'/.test(block.code);
let server: Promise<PostgresServer> | undefined;
let databases = 0;

/** A fresh database on the shared throwaway server, so blocks never see each other's runs. */
async function freshDatabase(): Promise<string> {
  server ??= startPostgres();
  const { connectionString } = await server;
  const name = `doc_block_${++databases}`;
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(connectionString);
  url.pathname = `/${name}`;
  return url.toString();
}

afterAll(async () => {
  if (server) await (await server).stop();
});

function describeOutcome(entry: CompiledBlock, outcome: BlockOutcome): string {
  const how = outcome.timedOut
    ? 'did not exit within its deadline (does it stop its worker and close its World?)'
    : `exited with ${outcome.exitCode ?? outcome.signal}`;
  return `${entry.block.id} ${how}\n--- stdout\n${outcome.stdout}\n--- stderr\n${outcome.stderr}`;
}

describe('the documentation', () => {
  it('has code blocks, and every marker names a known prelude', () => {
    expect(blocks.length).toBeGreaterThan(10);
    for (const block of blocks) {
      if (block.prelude !== undefined) expect(Object.keys(preludes), block.id).toContain(block.prelude);
    }
    const used = new Set(blocks.map((block) => block.prelude));
    for (const name of Object.keys(preludes)) expect(used.has(name), `prelude "${name}" is unused`).toBe(true);
  });

  it('names each pending block exactly once', () => {
    for (const entry of pending) {
      const matches = runnable.filter((block) => block.file === entry.file && block.code.includes(entry.contains));
      expect(
        matches.map((block) => block.id),
        `pending entry for ${entry.file}: ${entry.contains}`,
      ).toHaveLength(1);
    }
  });
});

describe.each(runnable.map((block) => [block.id, block] as const))('%s', (_id, block) => {
  const entry = compiled.get(block.id)!;
  const waiting = pending.find((item) => item.file === block.file && block.code.includes(item.contains));

  it('typechecks', () => {
    expect(entry.diagnostics).toEqual([]);
  });

  const title = waiting ? `runs: pending (${waiting.reason})` : 'runs to completion and exits';
  it(title, { timeout: 120_000 }, async () => {
    const env: Record<string, string> = needsPostgres(block) ? { DATABASE_URL: await freshDatabase() } : {};
    const expected = expectedOutput(block.code);
    // A long-running block is signalled once it prints its last expected line (it is idle by then).
    const last = expected.at(-1);
    const signal = block.signal && last ? { name: block.signal, after: last } : undefined;
    if (block.signal) expect(signal, `${block.id} needs a // prints: line to know when to signal`).toBeDefined();
    const outcome = await runBlock(entry, { env, ...(signal ? { signal } : {}) });
    if (waiting) {
      expect(outcome.exitCode === 0, `${block.id} now runs: take it off the pending list in fixtures.ts`).toBe(false);
      expect(outcome.stderr, describeOutcome(entry, outcome)).toMatch(waiting.failsWith);
      return;
    }
    expect(outcome.exitCode, describeOutcome(entry, outcome)).toBe(0);
    for (const text of expected) {
      expect(outcome.stdout, `${block.id} should print ${text}`).toContain(text);
    }
  });
});

describe.each(blocks.filter((block) => block.notRun !== undefined).map((block) => [block.id, block] as const))(
  '%s',
  (_id, block) => {
    it.skip(`is not run: ${block.notRun}`, () => {});
  },
);
