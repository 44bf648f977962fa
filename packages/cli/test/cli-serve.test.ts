import { createClient } from '@cairn/core';
import type { Run } from '@cairn/core/world';
import { createLocalWorld } from '@cairn/world-local';
import { describe, expect, it } from 'vitest';
import { greet } from './fixtures/orders.mjs';
import { cairnJson, runCairn, startCairn, temporaryDirectory } from './helpers.js';

/*
 * `cairn serve` puts a World behind world-http; every other command then reaches it by its
 * http:// URL and a token, with no access to the directory or database behind it.
 */
describe('cairn serve', () => {
  it('serves a World that the CLI reads over HTTP with a read token, and refuses a wrong one', async () => {
    const directory = await temporaryDirectory();
    const local = createLocalWorld({ dir: directory });
    await createClient({ world: local }).start(greet, 'grace', { id: 'greet-grace' });
    await local.close();

    const server = startCairn(['serve', '--port', '0', '--read-token', 'reader-token-0123456789abcdef'], {
      CAIRN_WORLD: `file:${directory}`,
      CAIRN_TOKEN: 'worker-token-0123456789abcdef',
    });
    await server.waitForOutput(/serving .* at http:\/\/127\.0\.0\.1:\d+/);
    const url = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(server.stderr())![1]!;

    const runs = await cairnJson<Run[]>(['runs', 'list'], {
      CAIRN_WORLD: url,
      CAIRN_TOKEN: 'reader-token-0123456789abcdef',
    });
    expect(runs.map((run) => [run.runId, run.workflowName, run.status])).toEqual([['greet-grace', 'greet', 'pending']]);

    const refused = await runCairn(['runs', 'list'], {
      CAIRN_WORLD: url,
      CAIRN_TOKEN: 'not-a-token-0123456789abcdefgh',
    });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/401|token/i);

    // A read token may look but not act.
    const cancel = await runCairn(['cancel', 'greet-grace'], {
      CAIRN_WORLD: url,
      CAIRN_TOKEN: 'reader-token-0123456789abcdef',
    });
    expect(cancel.code).toBe(1);
    expect(cancel.stderr).toMatch(/403|role|read/i);

    expect(await server.stop('SIGTERM')).toBe(0);
  });
});
