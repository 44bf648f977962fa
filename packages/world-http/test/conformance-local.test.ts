import { describeWorldConformance } from '@cairn/world-conformance';
import { createLocalWorld } from '@cairn/world-local';
import { openPeer, servedStores, temporaryDirectory } from './helpers.js';

const { served, reopen } = servedStores((directory: string) => createLocalWorld({ dir: directory }));

// The client must pass the same suite as the World behind the server.
describeWorldConformance({
  name: 'world-http → world-local',
  createWorld: async () => served(await temporaryDirectory()),
  openPeer,
  reopen,
});
