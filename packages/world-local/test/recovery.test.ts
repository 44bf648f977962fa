import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createClient, createWorker } from '@cairn/core';
import { describe, expect, it } from 'vitest';
import { createLocalWorld } from '../src/index.js';
// @ts-expect-error: a plain ESM fixture shared with the child process, without type declarations.
import { fulfil } from './fixtures/recovery-workflow.mjs';
import { temporaryDirectory, within } from './helpers.js';

describe('world-local recovery', () => {
  it('finishes a run whose worker was SIGKILLed mid-step, recording the step exactly once', async () => {
    const directory = await temporaryDirectory();
    const markerFile = join(directory, 'ship-attempts.txt');
    const child = spawn(
      process.execPath,
      [join(import.meta.dirname, 'fixtures/recovery-worker.mjs'), join(directory, 'world'), markerFile],
      {
        env: { ...process.env, CAIRN_RECOVERY_HANG: '1' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await within(
      new Promise<void>((resolve) => {
        child.stdout.on('data', (chunk: Buffer) => {
          if (chunk.toString().includes('STEP_STARTED')) resolve();
        });
      }),
      20_000,
      'the child to enter the ship step',
    );
    child.kill('SIGKILL');
    await exited;

    const world = createLocalWorld({ dir: join(directory, 'world') });
    const worker = createWorker({ world, workflows: [fulfil] });
    try {
      // Starting the worker re-enqueues every run that is not terminal.
      await worker.start();
      const run = await world.runs.get('recovery-run');
      expect(run.status).toBe('running');
      const result = await within(
        createClient({ world })
          .getRun('recovery-run')
          .then((handle) => handle.result()),
        20_000,
        'the run to finish',
      );
      expect(result).toBe('notified: shipped A-1');
      const events = (await world.events.list('recovery-run', { limit: 1000 })).data;
      expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
      const shipCompletions = events.filter(
        (event) => event.eventType === 'step_completed' && event.correlationId === 'step:recovery.ship#0',
      );
      expect(shipCompletions).toHaveLength(1);
      // Executed at least once (here twice: the killed attempt and the recovery), recorded once.
      expect((await readFile(markerFile, 'utf8')).trim().split('\n')).toHaveLength(2);
      for (const type of ['step_created', 'run_completed']) {
        const ids = events.filter((event) => event.eventType === type).map((event) => event.correlationId ?? type);
        expect(new Set(ids).size).toBe(ids.length);
      }
    } finally {
      await worker.stop();
      await world.close();
    }
  });
});
