import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
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

const rawClients: (Redis | Cluster)[] = [];

/**
 * A client of the test's own on the single server or the cluster, for reading and writing
 * keys behind a World's back. Close every one made with `disconnectRawClients` (afterAll).
 */
export function rawClient(topology: Topology): Redis | Cluster {
  const made =
    topology === 'single'
      ? new Redis(redisUrl)
      : new Cluster(clusterNodes.map((url) => ({ host: '127.0.0.1', port: Number(new URL(url).port) })));
  rawClients.push(made);
  return made;
}

export function disconnectRawClients(): void {
  for (const client of rawClients.splice(0)) client.disconnect();
}
