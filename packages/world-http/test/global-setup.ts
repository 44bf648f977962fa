import { type PostgresServer, startPostgres } from '@cairn/world-postgres/testing';
import { type RedisCluster, type RedisServer, startRedis, startRedisCluster } from '@cairn/world-redis/testing';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    connectionString: string;
    redisUrl: string;
    clusterNodes: string[];
  }
}

let postgres: PostgresServer | undefined;
let redis: RedisServer | undefined;
let cluster: RedisCluster | undefined;

/**
 * One throwaway PostgreSQL, one Redis and one 3-master Redis Cluster for the whole run; each
 * test isolates itself in its own schema or key prefix.
 */
export async function setup(project: TestProject): Promise<void> {
  [postgres, redis, cluster] = await Promise.all([startPostgres(), startRedis(), startRedisCluster(3)]);
  project.provide('connectionString', postgres.connectionString);
  project.provide('redisUrl', redis.url);
  project.provide('clusterNodes', cluster.nodes);
}

export async function teardown(): Promise<void> {
  await Promise.all([postgres?.stop(), redis?.stop(), cluster?.stop()]);
}
