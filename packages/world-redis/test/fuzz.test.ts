import { describeWorkflowFuzz } from '@cairn/engine-suite';
import { clusterNodes, freshPrefix, redisUrl } from './helpers.js';

// Worker processes open the World from the built package, each case under a key prefix of its own.
const spec = (source: { url: string } | { cluster: { nodes: typeof clusterNodes } }) => () => ({
  module: new URL('../dist/index.js', import.meta.url).href,
  factory: 'createRedisWorld',
  options: { ...source, prefix: freshPrefix() },
});

describeWorkflowFuzz({
  name: 'world-redis (single server)',
  sharedAcrossProcesses: true,
  world: spec({ url: redisUrl }),
});
describeWorkflowFuzz({
  name: 'world-redis (cluster)',
  sharedAcrossProcesses: true,
  world: spec({ cluster: { nodes: clusterNodes } }),
});
