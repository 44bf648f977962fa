import type { World } from '@cairn/core/world';
import { describeWorldConformance } from '@cairn/world-conformance';
import { createLocalWorld } from '../src/index.js';
import { temporaryDirectory } from './helpers.js';

// Each World remembers its directory so the suite can open a second handle on the same store.
const directories = new WeakMap<World, string>();
// Small, so tests that write a little data already checkpoint (snapshot + fresh journal)
// and the restart tests reopen from snapshots, not only from journals.
const checkpointBytes = 16 * 1024;

describeWorldConformance({
  name: 'world-local',
  createWorld: async () => {
    const directory = await temporaryDirectory();
    const world = createLocalWorld({ dir: directory, checkpointBytes });
    directories.set(world, directory);
    return world;
  },
  openPeer: (world) => createLocalWorld({ dir: directories.get(world)!, checkpointBytes }),
  reopen: (world) => {
    const directory = directories.get(world)!;
    const reopened = createLocalWorld({ dir: directory, checkpointBytes });
    directories.set(reopened, directory);
    return reopened;
  },
});
