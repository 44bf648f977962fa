import type { World } from '@cairn/core/world';
import { describeWorldConformance } from '@cairn/world-conformance';
import { createLocalWorld } from '../src/index.js';
import { temporaryDirectory } from './helpers.js';

// Each World remembers its directory so the suite can open a second handle on the same store.
const directories = new WeakMap<World, string>();

describeWorldConformance({
  name: 'world-local',
  createWorld: async () => {
    const directory = await temporaryDirectory();
    const world = createLocalWorld({ dir: directory });
    directories.set(world, directory);
    return world;
  },
  openPeer: (world) => createLocalWorld({ dir: directories.get(world)! }),
});
