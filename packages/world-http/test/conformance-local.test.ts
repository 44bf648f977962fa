import { describeWorldConformance } from '@cairn/world-conformance';
import { httpWorldInFront, localWorld, openPeer } from './helpers.js';

// The client must pass the same suite as the World behind the server.
describeWorldConformance({
  name: 'world-http → world-local',
  createWorld: async () => httpWorldInFront(await localWorld()),
  openPeer,
});
