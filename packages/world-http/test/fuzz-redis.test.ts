import { randomBytes } from 'node:crypto';
import { describeWorkflowFuzz } from '@cairn/engine-suite';
import { createRedisWorld } from '@cairn/world-redis';
import { inject } from 'vitest';
import { servedPerCase } from './helpers.js';

const clusterNodes = inject('clusterNodes');

// Worker processes speak only HTTP, to a server of the case's own in this process, in front
// of a fresh key prefix on a 3-master Redis Cluster.
describeWorkflowFuzz({
  name: 'world-http → world-redis (cluster)',
  sharedAcrossProcesses: true,
  ...servedPerCase(() =>
    createRedisWorld({ cluster: { nodes: clusterNodes }, prefix: `http-${randomBytes(6).toString('hex')}` }),
  ),
});
