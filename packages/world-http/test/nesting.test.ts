import type { World } from '@cairn/core/world';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpWorld } from '../src/index.js';
import { localWorld, type Served, serve, tokens } from './helpers.js';

let served: Served;
let backing: World;
let pool: Pool;
beforeAll(async () => {
  backing = await localWorld();
  served = await serve(backing);
  pool = new Pool(served.url);
});
afterAll(async () => {
  await pool.close();
  await served.server.close();
  await backing.close();
});

const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

async function post(route: string, body: string): Promise<{ status: number; error: Record<string, unknown> }> {
  const response = await pool.request({
    path: `/v1/${route}`,
    method: 'POST',
    headers: { authorization: `Bearer ${tokens.worker}`, 'content-type': 'application/json' },
    body,
  });
  const answer = (await response.body.json()) as { error: Record<string, unknown> };
  return { status: response.statusCode, error: answer.error };
}

describe('world-http: deeply nested bodies', () => {
  it('refuses a body nested too deeply to validate with a typed 400 naming the body, not a 500', async () => {
    const bodies: [string, string][] = [
      [
        'events.create',
        `{"runId":null,"request":{"eventType":"run_created","eventData":{"workflowName":"w","input":${nested(20_000)}}}}`,
      ],
      ['queue.send', `{"topic":"jobs","payload":${nested(20_000)}}`],
      ['streams.write', `{"runId":"r","name":"out","chunk":{"text":"x"},"options":${nested(20_000)}}`],
    ];
    for (const [route, body] of bodies) {
      const { status, error } = await post(route, body);
      expect(status, route).toBe(400);
      expect(error).toMatchObject({ code: 'INVALID_INPUT', field: 'body' });
    }
    expect((await backing.runs.list()).data).toEqual([]);
  });

  it('still takes values nested as deeply as real data is', async () => {
    const client = await createHttpWorld({ url: served.url, token: tokens.worker });
    try {
      const input = JSON.parse(nested(200));
      const { run } = await client.events.create(null, {
        eventType: 'run_created',
        eventData: { workflowName: 'deep', input },
      });
      expect((await backing.runs.get(run.runId)).input).toEqual(input);
    } finally {
      await client.close();
    }
  });
});
