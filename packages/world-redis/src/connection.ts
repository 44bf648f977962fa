import { InvalidInputError } from '@cairn/core/world';
import { Cluster, Redis } from 'ioredis';
import { z } from 'zod';

/** How the World reaches Redis: exactly one of `url`, `cluster` or `client`. */
export const connectionShape = {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` for one server. */
  url: z
    .string()
    .regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')
    .optional(),
  /** A Redis Cluster: some of its nodes (the rest are discovered), each `redis://host:port`. */
  cluster: z
    .strictObject({
      nodes: z.array(z.string().regex(/^rediss?:\/\//, 'must start with redis:// or rediss://')).min(1),
    })
    .optional(),
  /** An ioredis `Redis` or `Cluster` the application already holds. The World does not close it. */
  client: z
    .custom<Redis | Cluster>((value) => value instanceof Redis || value instanceof Cluster, {
      message: 'must be an ioredis Redis or Cluster instance',
    })
    .optional(),
};

export function requireOneSource(
  options: { url?: unknown; cluster?: unknown; client?: unknown },
  context: z.RefinementCtx,
): void {
  const given = ['url', 'cluster', 'client'].filter((field) => options[field as keyof typeof options] !== undefined);
  if (given.length !== 1) {
    context.addIssue({
      code: 'custom',
      message: `give exactly one of url, cluster or client (got ${given.join(', ') || 'none'})`,
    });
  }
}

/** Host and port, or the cluster's seed nodes, for names and error messages (never credentials). */
export function locationOf(options: { url?: string; cluster?: { nodes: string[] }; client?: Redis | Cluster }): string {
  const hostOf = (url: string) => {
    try {
      const parsed = new URL(url);
      return `${parsed.hostname}:${parsed.port || '6379'}`;
    } catch {
      throw new InvalidInputError({ field: 'options.url', value: url, reason: 'must be a valid URL' });
    }
  };
  if (options.url) return hostOf(options.url);
  if (options.cluster) return options.cluster.nodes.map(hostOf).join(',');
  const client = options.client!;
  if (client instanceof Cluster) return 'cluster';
  return `${client.options.host}:${client.options.port}`;
}

/**
 * Opens the client. Ours connect lazily (on `open()` or first use) and keep reconnecting
 * after a drop; a command sent while disconnected waits in ioredis's offline queue and
 * fails after a few retries, so nothing hangs forever.
 */
export function openClient(options: { url?: string; cluster?: { nodes: string[] }; client?: Redis | Cluster }): {
  client: Redis | Cluster;
  owned: boolean;
} {
  if (options.client) return { client: options.client, owned: false };
  const common = {
    lazyConnect: true,
    maxRetriesPerRequest: 20,
    retryStrategy: (times: number) => Math.min(times * 50, 1_000),
  };
  // Failures surface through the commands that meet them; without a listener ioredis would
  // also print every connection error of a reconnect loop.
  const quiet = <Client extends Redis | Cluster>(client: Client) => client.on('error', () => {}) as Client;
  if (options.url) return { client: quiet(new Redis(options.url, common)), owned: true };
  const nodes = options.cluster!.nodes.map((node) => {
    const parsed = new URL(node);
    return { host: parsed.hostname, port: Number(parsed.port || 6379) };
  });
  const first = new URL(options.cluster!.nodes[0]!);
  return {
    client: quiet(
      new Cluster(nodes, {
        lazyConnect: true,
        clusterRetryStrategy: (times: number) => Math.min(times * 50, 1_000),
        redisOptions: {
          maxRetriesPerRequest: 20,
          ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
          ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
          ...(first.protocol === 'rediss:' ? { tls: {} } : {}),
        },
      }),
    ),
    owned: true,
  };
}
