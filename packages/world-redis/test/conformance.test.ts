import type { World } from '@cairn/core/world';
import { describeWorldConformance } from '@cairn/world-conformance';
import { createTestWorld } from './helpers.js';

// A peer is a second World (its own connections) under the same prefix: what another process opens.
const prefixOf = new WeakMap<World, string>();

describeWorldConformance({
  name: 'world-redis (single server)',
  createWorld: () => {
    const world = createTestWorld('single');
    prefixOf.set(world, world.name.split('/').at(-1)!);
    return world;
  },
  openPeer: (world) => createTestWorld('single', { prefix: prefixOf.get(world)! }),
});
