import { connect } from 'node:net';
import type { World } from '@cairn/core/world';
import { Pool } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AbuseCase, abuseCases } from './abuse-cases.js';
import { localWorld, type Served, serve, tokens } from './helpers.js';

const total = 10_200;
let served: Served;
let backing: World;
let runId: string;

async function countEverything(world: World): Promise<{ runs: number; events: number; chunks: number }> {
  const runs = await world.runs.list({ limit: 1000 });
  let events = 0;
  let chunks = 0;
  for (const run of runs.data) {
    events += (await world.events.list(run.runId, { limit: 1000 })).data.length;
    for (const stream of await world.streams.list(run.runId)) chunks += stream.chunkCount;
  }
  return { runs: runs.data.length, events, chunks };
}

beforeAll(async () => {
  backing = await localWorld();
  const { run } = await backing.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
  runId = run.runId;
  await backing.events.create(runId, { eventType: 'run_started' });
  await backing.streams.write(runId, 'out', 'first');
  served = await serve(backing, { maxBodyBytes: 64 * 1024, bodyTimeoutMs: 300 });
});
afterAll(async () => {
  await served.server.close();
  await backing.close();
});

describe('world-http: malformed requests', () => {
  it(`answers ${total} malformed requests with typed 4xx errors, stays up and writes nothing`, async () => {
    const before = await countEverything(backing);
    const pool = new Pool(served.url, { connections: 16 });
    const cases = abuseCases(runId);
    const failures: string[] = [];
    const codes = new Map<string, number>();
    let next = 0;
    const worker = async () => {
      while (next < total) {
        const index = next++;
        // Each maker sees its own running count, so it walks through all of its variants.
        const abuse: AbuseCase = cases[index % cases.length]!(Math.floor(index / cases.length));
        const response = await pool.request({
          path: abuse.path,
          method: abuse.method,
          headers: abuse.headers,
          ...(abuse.body === undefined ? {} : { body: abuse.body }),
        });
        const text = await response.body.text();
        let code: unknown;
        try {
          code = JSON.parse(text).error?.code;
        } catch {
          code = undefined;
        }
        codes.set(
          `${response.statusCode} ${String(code)}`,
          (codes.get(`${response.statusCode} ${String(code)}`) ?? 0) + 1,
        );
        const typed = typeof code === 'string' && /^[A-Z_]+$/.test(code);
        const expected = abuse.expect.includes(response.statusCode);
        if (!typed || !expected) failures.push(`${abuse.what}: ${response.statusCode} ${text.slice(0, 200)}`);
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
    await pool.close();
    expect(failures.slice(0, 10)).toEqual([]);
    // Every kind of refusal was exercised.
    for (const status of [400, 401, 403, 404, 405, 413]) {
      expect(
        [...codes.keys()].some((key) => key.startsWith(`${status} `)),
        `some ${status}: ${[...codes.keys()]}`,
      ).toBe(true);
    }
    expect(await countEverything(backing)).toEqual(before);
    // Nothing was queued either: a message sent now is the first one any consumer sees.
    await backing.queue.send('jobs', 'sentinel');
    const first = await new Promise<unknown>((resolve) => {
      const consumer = backing.queue.consume('jobs', async (message) => {
        resolve(message.payload);
        void consumer.stop();
      });
    });
    expect(first).toBe('sentinel');
  }, 120_000);

  it('answers a body that stops arriving with a typed 408, and keeps serving', async () => {
    const { port } = new URL(served.url);
    const answers = await Promise.all(
      Array.from(
        { length: 20 },
        () =>
          new Promise<string>((resolve, reject) => {
            const socket = connect(Number(port), '127.0.0.1');
            let received = '';
            socket.on('data', (data) => {
              received += data.toString();
            });
            socket.on('close', () => resolve(received));
            socket.on('error', reject);
            socket.write(
              `POST /v1/events.create HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${tokens.worker}\r\n` +
                'content-type: application/json\r\ncontent-length: 100\r\n\r\n{"runId":',
            );
          }),
      ),
    );
    for (const answer of answers) {
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
      expect(answer).toContain('"code":"REQUEST_TIMEOUT"');
    }
    expect((await backing.runs.list()).data).toHaveLength(1);
  });
});
