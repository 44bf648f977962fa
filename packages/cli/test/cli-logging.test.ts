import { describe, expect, it } from 'vitest';
import { fixture, runCairn, startCairn, temporaryDirectory } from './helpers.js';

/**
 * `--log-level` (or `CAIRN_LOG_LEVEL`) sets what the worker and the Worlds and servers the
 * CLI creates print on stderr; by default only warnings and errors.
 */
describe('cairn --log-level', () => {
  async function workerOutput(args: string[], environment: Record<string, string> = {}): Promise<string> {
    const world = `file:${await temporaryDirectory()}`;
    const worker = startCairn(['worker', '--module', fixture('orders.mjs'), ...args], {
      CAIRN_WORLD: world,
      ...environment,
    });
    await worker.waitForOutput(/Ctrl-C stops it/);
    expect(await worker.stop('SIGTERM')).toBe(0);
    return worker.stderr();
  }

  it('prints the worker start and stop at info with --log-level info, naming its workflows and concurrency', async () => {
    const stderr = await workerOutput(['--log-level', 'info', '--concurrency', '3']);
    const started = stderr.split('\n').find((line) => line.startsWith('info: worker started on local:'));
    expect(started, stderr).toBeDefined();
    expect(started).toContain('"concurrency":3');
    expect(started).toContain('"greet"');
    expect(stderr).toMatch(/^info: worker stopped on local:/m);
  });

  it('takes CAIRN_LOG_LEVEL, and prints no info lines by default', async () => {
    expect(await workerOutput([], { CAIRN_LOG_LEVEL: 'debug' })).toMatch(/^info: worker started on local:/m);
    const quiet = await workerOutput([]);
    expect(quiet).toContain('worker started on local:');
    expect(quiet).not.toMatch(/^(debug|info): /m);
  });

  it('refuses a level that is not one, naming the flag or the variable and the value, with exit 2', async () => {
    const directory = await temporaryDirectory();
    const flag = await runCairn(['runs', 'list', '--world', `file:${directory}`, '--log-level', 'loud']);
    expect(flag.code).toBe(2);
    expect(flag.stderr).toMatch(/--log-level <level>' argument 'loud' is invalid/);
    expect(flag.stderr).toContain('debug, info, warn, error');
    const variable = await runCairn(['runs', 'list', '--world', `file:${directory}`], { CAIRN_LOG_LEVEL: 'WARNING' });
    expect(variable.code).toBe(2);
    expect(variable.stderr).toMatch(/'WARNING' from env 'CAIRN_LOG_LEVEL' is invalid/);
  });
});
