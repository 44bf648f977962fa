import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeWorkflowFuzz } from '@cairn/engine-suite';
import { afterAll } from 'vitest';

const directories: string[] = [];
afterAll(() => Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true }))));

// One process owns a local World, so each case runs it in a child process (built dist) and kills that.
describeWorkflowFuzz({
  name: 'world-local',
  sharedAcrossProcesses: false,
  world: async () => {
    directories.push(await mkdtemp(join(tmpdir(), 'cairn-fuzz-world-')));
    return {
      module: new URL('../dist/index.js', import.meta.url).href,
      factory: 'createLocalWorld',
      options: { dir: directories.at(-1)! },
    };
  },
});
