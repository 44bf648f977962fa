import { randomBytes } from 'node:crypto';
import { describeWorkflowFuzz } from '@cairn/engine-suite';
import { createRedisWorld } from '@cairn/world-redis';
import { inject } from 'vitest';
import { serve, tokens } from './helpers.js';

const clusterNodes = inject('clusterNodes');
/** Each case's server and the World behind it, by the server's URL, until the case ends. */
const stopServer = new Map<string, () => Promise<void>>();

// Worker processes speak only HTTP, to a server of the case's own in this process, in front
// of a fresh key prefix on a 3-master Redis Cluster.
describeWorkflowFuzz({
  name: 'world-http → world-redis (cluster)',
  sharedAcrossProcesses: true,
  world: async () => {
    const backing = createRedisWorld({
      cluster: { nodes: clusterNodes },
      prefix: `http-${randomBytes(6).toString('hex')}`,
    });
    const { url, server } = await serve(backing);
    stopServer.set(url, async () => {
      await server.close();
      await backing.close();
    });
    return {
      module: new URL('../dist/index.js', import.meta.url).href,
      factory: 'createHttpWorld',
      options: { url, token: tokens.worker },
    };
  },
  afterCase: async ({ options }) => {
    const { url } = options as { url: string };
    await stopServer.get(url)?.();
    stopServer.delete(url);
  },
});
