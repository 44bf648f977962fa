import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeEngineSuite } from '@cairn/engine-suite';
import { createLocalWorld } from '../src/index.js';

describeEngineSuite({
  name: 'world-local',
  createWorld: async () => createLocalWorld({ dir: await mkdtemp(join(tmpdir(), 'cairn-engine-')) }),
});
