import type { TestProject } from 'vitest/node';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '../src/testing.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
    clusterNodes: string[];
  }
}

let server: RedisServer | undefined;
let cluster: RedisCluster | undefined;

/** One throwaway Redis and one 3-master cluster for the whole run; each World isolates itself under its own prefix. */
export async function setup(project: TestProject): Promise<void> {
  [server, cluster] = await Promise.all([startRedis(), startRedisCluster(3)]);
  project.provide('redisUrl', server.url);
  project.provide('clusterNodes', cluster.nodes);
}

export async function teardown(): Promise<void> {
  await Promise.all([server?.stop(), cluster?.stop()]);
}
