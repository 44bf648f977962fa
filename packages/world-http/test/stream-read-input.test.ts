import type { World } from '@cairn/core/world';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localWorld, type Served, serve, tokens } from './helpers.js';

let served: Served;
let backing: World;
let pool: Pool;
let runId: string;
beforeAll(async () => {
  backing = await localWorld();
  const { run } = await backing.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
  runId = run.runId;
  served = await serve(backing);
  pool = new Pool(served.url);
});
afterAll(async () => {
  await pool.close();
  await served.server.close();
  await backing.close();
});

describe('world-http: streams.read arguments', () => {
  it('refuses bad arguments with a typed 400 status, not a 200 that starts streaming', async () => {
    const bodies = [
      { runId, name: 'out', fromIndex: 'first' },
      { runId, name: 'out', fromIndex: 1.5 },
      { runId, name: '', fromIndex: 0 },
      { runId: 42, name: 'out' },
      { runId, name: 'out', follow: true },
      [runId, 'out'],
    ];
    for (const body of bodies) {
      const response = await pool.request({
        path: '/v1/streams.read',
        method: 'POST',
        headers: { authorization: `Bearer ${tokens.read}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await response.body.text();
      expect(response.statusCode, `${JSON.stringify(body)}: ${text}`).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(text).error.code).toBe('INVALID_INPUT');
    }
  });
});
