import { describeEngineSuite } from '@cairn/engine-suite';
import { httpWorldInFront, localWorld } from './helpers.js';

// The engine's behaviour tests and race storms (lease on and off) with every World call over HTTP.
describeEngineSuite({
  name: 'world-http → world-local',
  createWorld: async () => httpWorldInFront(await localWorld()),
});
