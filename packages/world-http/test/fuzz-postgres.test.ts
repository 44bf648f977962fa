import { randomBytes } from 'node:crypto';
import { describeWorkflowFuzz } from '@cairn/engine-suite';
import { createPostgresWorld } from '@cairn/world-postgres';
import { inject } from 'vitest';
import { serve, tokens } from './helpers.js';

const connectionString = inject('connectionString');
/** Each case's server and the World behind it, by the server's URL, until the case ends. */
const stopServer = new Map<string, () => Promise<void>>();

// Worker processes speak only HTTP, to a server of the case's own in this process, in front
// of a fresh PostgreSQL schema.
describeWorkflowFuzz({
  name: 'world-http → world-postgres',
  sharedAcrossProcesses: true,
  world: async () => {
    const backing = createPostgresWorld({ connectionString, schema: `http_${randomBytes(6).toString('hex')}` });
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
