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
