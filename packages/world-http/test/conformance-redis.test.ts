import { randomBytes } from 'node:crypto';
import type { World } from '@cairn/core/world';
import { describeWorldConformance } from '@cairn/world-conformance';
import { createRedisWorld, type RedisWorldOptions } from '@cairn/world-redis';
import { inject } from 'vitest';
import { httpWorldInFront, openPeer } from './helpers.js';

const servers = { single: { url: inject('redisUrl') }, cluster: { cluster: { nodes: inject('clusterNodes') } } };
/** Each served World's backing options, so a restart opens the same keys behind a new server. */
const backingOf = new WeakMap<World, RedisWorldOptions>();

async function served(options: RedisWorldOptions): Promise<World> {
  const world = await httpWorldInFront(createRedisWorld(options));
  backingOf.set(world, options);
  return world;
}

// Each World gets a key prefix of its own, on one server and on a 3-master cluster.
for (const [topology, name] of [
  ['single', 'single server'],
  ['cluster', '3-master cluster'],
] as const) {
  describeWorldConformance({
    name: `world-http → world-redis (${name})`,
    createWorld: () =>
      served({ ...servers[topology], prefix: `http-${randomBytes(6).toString('hex')}` } as RedisWorldOptions),
    openPeer,
    reopen: (world) => served(backingOf.get(world)!),
  });
}
