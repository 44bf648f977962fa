import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeEngineSuite } from '@cairn/engine-suite';
import { afterAll } from 'vitest';
import { createLocalWorld } from '../src/index.js';

const directories: string[] = [];
afterAll(() => Promise.all(directories.map((directory) => rm(directory, { recursive: true, force: true }))));

describeEngineSuite({
  name: 'world-local',
  createWorld: async () => {
    directories.push(await mkdtemp(join(tmpdir(), 'cairn-engine-')));
    return createLocalWorld({ dir: directories.at(-1)! });
  },
});
