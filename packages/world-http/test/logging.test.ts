import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { InvalidInputError, type LogDetails, type World } from '@cairn/core/world';
import { describe, expect, it } from 'vitest';
import { createHttpWorld, createWorldServer } from '../src/index.js';
import { localWorld, serve, tokens } from './helpers.js';

/** The backing World with `runs.get` failing in a way no World error describes, quoting a secret. */
function failingReads(world: World): World {
  return {
    ...world,
    runs: {
      ...world.runs,
      get: async () => {
        throw new TypeError('exploded while reading secret-payload-text');
      },
    },
  };
}

describe('world-http: the server logger', () => {
  it('reports a server fault at warn to the given logger, by route and error name, without the message', async () => {
    const lines: { level: string; message: string; details: LogDetails | undefined }[] = [];
    const record = (level: string) => (message: string, details?: LogDetails) =>
      lines.push({ level, message, details });
    const backing = await localWorld();
    const served = await serve(failingReads(backing), {
      logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
    });
    const client = await createHttpWorld({ url: served.url, token: tokens.worker });
    try {
      await expect(client.runs.get('run-1')).rejects.toThrow();
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatchObject({
        level: 'warn',
        details: { method: 'POST', path: '/v1/runs.get', error: 'TypeError' },
      });
      expect(JSON.stringify(lines)).not.toContain('secret-payload-text');
      expect(JSON.stringify(lines)).not.toContain(tokens.worker);
    } finally {
      await client.close();
      await served.server.close();
      await backing.close();
    }
  });

  it('is silent with logger: false, and refuses a value that is not a logger, naming the field', async () => {
    const backing = await localWorld();
    const warnings: unknown[] = [];
    const original = console.warn;
    console.warn = (...args: unknown[]) => warnings.push(args);
    const served = await serve(failingReads(backing), { logger: false });
    const client = await createHttpWorld({ url: served.url, token: tokens.worker });
    try {
      await expect(client.runs.get('run-1')).rejects.toThrow();
      expect(warnings).toEqual([]);
    } finally {
      console.warn = original;
      await client.close();
      await served.server.close();
    }
    let thrown: unknown;
    try {
      createWorldServer({
        world: backing,
        tokens: [{ token: tokens.worker, role: 'worker' }],
        logger: { warn: 'loud' } as never,
      });
    } catch (error) {
      thrown = error;
    }
    expect(InvalidInputError.is(thrown)).toBe(true);
    expect(thrown).toMatchObject({ field: 'options.logger.warn', value: 'loud' });
    await backing.close();
  });
});

describe('world-http: a client that goes away', () => {
  it('is not reported as a server fault when it hangs up in the middle of its body', async () => {
    const lines: string[] = [];
    const record = (message: string) => void lines.push(message);
    const backing = await localWorld();
    const worldServer = createWorldServer({
      world: backing,
      tokens: [{ token: tokens.worker, role: 'worker' }],
      logger: { debug: record, info: record, warn: record, error: record },
    });
    // Mounted in a server of the test's own, which sees when the server is done with each response.
    const responsesClosed: Promise<void>[] = [];
    const server = createServer((request, response) => {
      responsesClosed.push(new Promise((resolve) => response.on('close', () => resolve())));
      worldServer.handler(request, response);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const socket = connect(port, '127.0.0.1');
      socket.on('error', () => {});
      const arrived = new Promise<void>((resolve) => server.once('request', () => resolve()));
      socket.write(
        `POST /v1/events.create HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${tokens.worker}\r\n` +
          'content-type: application/json\r\ncontent-length: 1000\r\n\r\n{"runId":',
      );
      await arrived;
      socket.destroy();
      await Promise.all(responsesClosed);
      // The request's failure is handled in the turns after its response closed.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setImmediate(resolve));
      expect(lines).toEqual([]);
      expect((await backing.runs.list()).data).toEqual([]);
    } finally {
      await worldServer.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await backing.close();
    }
  });
});
