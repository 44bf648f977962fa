import { randomBytes } from 'node:crypto';
import { describeWorldConformance } from '@cairn/world-conformance';
import { createRedisWorld } from '@cairn/world-redis';
import { inject } from 'vitest';
import { openPeer, servedStores } from './helpers.js';

const servers = { single: { url: inject('redisUrl') }, cluster: { cluster: { nodes: inject('clusterNodes') } } };

// Each World gets a key prefix of its own, on one server and on a 3-master cluster.
for (const [topology, name] of [
  ['single', 'single server'],
  ['cluster', '3-master cluster'],
] as const) {
  const { served, reopen } = servedStores((prefix: string) => createRedisWorld({ ...servers[topology], prefix }));
  describeWorldConformance({
    name: `world-http → world-redis (${name})`,
    createWorld: () => served(`http-${randomBytes(6).toString('hex')}`),
    openPeer,
    reopen,
  });
}
