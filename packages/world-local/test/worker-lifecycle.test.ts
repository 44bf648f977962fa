import { type ChildProcessByStdio, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { createClient } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { createLocalWorld } from '../src/index.js';
// @ts-expect-error: a plain ESM fixture shared with the child process, without type declarations.
import { busy, nap } from './fixtures/lifecycle-workflow.mjs';
import { temporaryDirectory, within } from './helpers.js';

/*
 * A worker in its own process, as an operator runs it. world-local holds no handle that
 * keeps Node's event loop alive, so these prove that the worker itself does while started,
 * and that the opt-in signal handling stops it gracefully.
 */
type Child = ChildProcessByStdio<null, Readable, null> & { output: string };

function spawnWorker(directory: string, mode: 'plain' | 'signals' | 'stop'): Child {
  const child = spawn(process.execPath, [join(import.meta.dirname, 'fixtures/lifecycle-worker.mjs'), directory, mode], {
    stdio: ['ignore', 'pipe', 'inherit'],
  }) as Child;
  child.output = '';
  child.stdout.on('data', (chunk: Buffer) => {
    child.output += chunk.toString();
  });
  return child;
}

/** Resolves once the child printed `line`; rejects if it exits first, saying how. */
function printed(child: Child, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (!child.output.split('\n').includes(line)) return;
      child.stdout.off('data', check);
      child.off('exit', early);
      resolve();
    };
    const early = (code: number | null, signal: string | null) =>
      reject(
        new Error(
          `the worker exited (code ${code}, signal ${signal}) before printing ${line}; it printed ${JSON.stringify(child.output)}`,
        ),
      );
    child.stdout.on('data', check);
    child.once('exit', early);
    check();
  });
}

function exited(child: Child): Promise<{ code: number | null; signal: string | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Starts a run in the directory's World from this process, then closes it so the child can own the directory. */
async function startRun(directory: string, definition: typeof nap, input: number, id: string): Promise<void> {
  const world = createLocalWorld({ dir: directory });
  try {
    await createClient({ world }).start(definition, input, { id });
  } finally {
    await world.close();
  }
}

async function runAfterwards(directory: string, id: string) {
  const world = createLocalWorld({ dir: directory });
  try {
    const run = await world.runs.get(id);
    const events = (await world.events.list(id, { limit: 1000 })).data;
    return { run, events };
  } finally {
    await world.close();
  }
}

/** Resolves with how the child exited, or with undefined if it is still running after `ms`. */
function exitWithin(child: Child, ms: number): Promise<{ code: number | null; signal: string | null } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    exited(child),
    new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

describe('world-local: a worker process', () => {
  it('that only called start() on an empty World stays up instead of exiting when idle', async () => {
    const directory = join(await temporaryDirectory(), 'world');
    const child = spawnWorker(directory, 'plain');
    try {
      await within(printed(child, 'READY'), 20_000, 'the worker to start');
      // Nothing can be awaited for "still running" but the absence of an exit. Without a
      // handle of its own, the process ends within milliseconds of READY; give it ample time.
      expect(await exitWithin(child, 2000)).toBe(undefined);
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
  });

  it('ends by itself once stop() returned: the worker holds the process only while started', async () => {
    const directory = join(await temporaryDirectory(), 'world');
    const child = spawnWorker(directory, 'stop');
    try {
      expect(await within(exited(child), 20_000, 'the process to end after stop()')).toEqual({ code: 0, signal: null });
      expect(child.output).toBe('READY\nSTOPPED\n');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('wakes from a durable sleep with no work in flight, and finishes the run', async () => {
    const directory = join(await temporaryDirectory(), 'world');
    await startRun(directory, nap, 1500, 'nap-run');
    const child = spawnWorker(directory, 'plain');
    try {
      await within(printed(child, 'READY'), 20_000, 'the worker to start');
      // The run sleeps 1.5 s with no work in flight; a process that exits when idle never gets here.
      await within(printed(child, 'NAP_DONE'), 20_000, 'the run to wake from its sleep');
      expect(child.exitCode).toBe(null);
    } finally {
      child.kill('SIGKILL');
      await exited(child);
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    it(`stops gracefully on ${signal} when asked to: the step in flight finishes and is recorded, then the process exits 0`, async () => {
      const directory = join(await temporaryDirectory(), 'world');
      await startRun(directory, busy, 750, 'busy-run');
      const child = spawnWorker(directory, 'signals');
      try {
        await within(printed(child, 'STEP_STARTED'), 20_000, 'the step to start');
        child.kill(signal);
        expect(await within(exited(child), 20_000, 'the worker to exit')).toEqual({ code: 0, signal: null });
        expect(child.output).toContain('STOPPED\n');
      } finally {
        child.kill('SIGKILL');
      }
      const { run, events } = await runAfterwards(directory, 'busy-run');
      expect(run.status).toBe('completed');
      expect(events.filter((event) => event.eventType === 'step_completed')).toHaveLength(1);
    });
  }
});
