import type { World } from '@cairn/core/world';
import { describeWorldConformance } from '@cairn/world-conformance';
import { createTestWorld } from './helpers.js';

const prefixOf = new WeakMap<World, string>();

describeWorldConformance({
  name: 'world-redis (3-master cluster)',
  createWorld: () => {
    const world = createTestWorld('cluster');
    prefixOf.set(world, world.name.split('/').at(-1)!);
    return world;
  },
  openPeer: (world) => createTestWorld('cluster', { prefix: prefixOf.get(world)! }),
});
