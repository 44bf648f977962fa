import { describeEngineSuite } from '@cairn/engine-suite';
import { createTestWorld } from './helpers.js';

describeEngineSuite({
  name: 'world-redis (single server)',
  createWorld: () => createTestWorld('single'),
});
