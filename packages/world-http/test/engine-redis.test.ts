import { randomBytes } from 'node:crypto';
import { describeEngineSuite } from '@cairn/engine-suite';
import { createRedisWorld } from '@cairn/world-redis';
import { inject } from 'vitest';
import { httpWorldInFront } from './helpers.js';

const clusterNodes = inject('clusterNodes');

// On the cluster, the harder of world-redis's two shapes: an append's messages for other
// partitions go through its outbox.
describeEngineSuite({
  name: 'world-http → world-redis (3-master cluster)',
  createWorld: () =>
    httpWorldInFront(
      createRedisWorld({ cluster: { nodes: clusterNodes }, prefix: `http-${randomBytes(6).toString('hex')}` }),
    ),
});
