import type { World } from '@cairn/core/world';
import { describeWorldConformance } from '@cairn/world-conformance';
import { createTestWorld } from './helpers.js';

const prefixOf = new WeakMap<World, string>();

/** A World under `prefix` (a fresh one by default), remembered so peers and reopens find its data. */
function open(prefix?: string): World {
  const world = createTestWorld('cluster', prefix === undefined ? {} : { prefix });
  prefixOf.set(world, world.name.split('/').at(-1)!);
  return world;
}

describeWorldConformance({
  name: 'world-redis (3-master cluster)',
  createWorld: () => open(),
  openPeer: (world) => open(prefixOf.get(world)!),
  // What a restarted process opens: a new World on the same prefix.
  reopen: (world) => open(prefixOf.get(world)!),
});
