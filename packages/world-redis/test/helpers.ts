import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { createRedisWorld, type RedisWorldOptions } from '../src/index.js';

export const redisUrl = inject('redisUrl');
export const clusterNodes = inject('clusterNodes');

export type Topology = 'single' | 'cluster';

/** A fresh key prefix: Worlds under different prefixes never see each other's data. */
export const freshPrefix = () => `t${randomBytes(6).toString('hex')}`;

/** A World on the single server or the cluster, under its own prefix (or `prefix`, to open a peer). */
export function createTestWorld(topology: Topology, options: Partial<RedisWorldOptions> = {}) {
  const source = topology === 'single' ? { url: redisUrl } : { cluster: { nodes: clusterNodes } };
  return createRedisWorld({ ...source, prefix: freshPrefix(), ...options } as RedisWorldOptions);
}
