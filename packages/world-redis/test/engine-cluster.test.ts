import { describeEngineSuite } from '@cairn/engine-suite';
import { createTestWorld } from './helpers.js';

describeEngineSuite({
  name: 'world-redis (3-master cluster)',
  createWorld: () => createTestWorld('cluster'),
});
