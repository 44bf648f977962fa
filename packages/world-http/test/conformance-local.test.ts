import type { World } from '@cairn/core/world';
import { describeWorldConformance } from '@cairn/world-conformance';
import { createLocalWorld } from '@cairn/world-local';
import { httpWorldInFront, openPeer, temporaryDirectory } from './helpers.js';

/** Each served World's directory, so a restart opens the same files behind a new server. */
const directoryOf = new WeakMap<World, string>();

async function served(directory: string): Promise<World> {
  const world = await httpWorldInFront(createLocalWorld({ dir: directory }));
  directoryOf.set(world, directory);
  return world;
}

// The client must pass the same suite as the World behind the server.
describeWorldConformance({
  name: 'world-http → world-local',
  createWorld: async () => served(await temporaryDirectory()),
  openPeer,
  reopen: (world) => served(directoryOf.get(world)!),
});
