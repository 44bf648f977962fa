import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { World } from '@cairn/core/world';
import { createLocalWorld } from '@cairn/world-local';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localWorld, type Served, serve } from './helpers.js';

let served: Served;
let backing: World;
beforeAll(async () => {
  backing = await localWorld();
  // A body timeout far beyond the test's: an answer that waits for the body cannot pass for a prompt one.
  served = await serve(backing, { bodyTimeoutMs: 60_000 });
});
afterAll(async () => {
  await served.server.close();
  await backing.close();
});

/** Sends only the headers of a POST that announces a large body, and collects the answer. */
function announceLargeBody(path: string): Promise<string> {
  const { port } = new URL(served.url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1');
    let received = '';
    socket.on('data', (bytes) => {
      received += bytes.toString();
      if (received.includes('\r\n\r\n') && received.includes('}')) socket.destroy();
    });
    socket.on('close', () => resolve(received));
    socket.on('error', reject);
    socket.write(`POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-type: text/plain\r\ncontent-length: 10000000\r\n\r\n`);
  });
}

describe('world-http: webhook requests without a live hook', () => {
  it('are refused before their body is read, so an anonymous sender cannot make the server buffer it', async () => {
    const unknown = `/v1/webhooks/wh_${'A'.repeat(43)}`;
    const forged = '/v1/webhooks/approve:order-42';
    const answers = await Promise.all([announceLargeBody(unknown), announceLargeBody(forged)]);
    for (const answer of answers) {
      expect(answer).toMatch(/^HTTP\/1\.1 404/);
      expect(answer).toContain('"code":"HOOK_NOT_FOUND"');
      expect(answer.toLowerCase()).toContain('connection: close');
    }
  }, 20_000);
});

describe('world-http: a webhook body too large to record', () => {
  it('is refused with a typed 413, whether it is too large as sent or only once recorded', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'cairn-http-'));
    const small = createLocalWorld({ dir: directory, maxPayloadBytes: 64 * 1024 });
    const smallServed = await serve(small);
    try {
      const token = `wh_${'B'.repeat(43)}`;
      const { run } = await small.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
      await small.events.create(run.runId, { eventType: 'run_started' });
      await small.events.create(run.runId, { eventType: 'hook_created', correlationId: 'h1', eventData: { token } });
      const url = `${smallServed.url}/v1/webhooks/${token}`;
      // Under the limit as bytes, over it as base64 (bytes that are not UTF-8), and over it as sent.
      for (const body of [Buffer.alloc(60 * 1024, 0xff), Buffer.alloc(65 * 1024, 0x61)]) {
        const answer = await request(url, { method: 'POST', body });
        expect(answer.statusCode, `${body.length} bytes`).toBe(413);
        expect(await answer.body.json()).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE', limitBytes: 64 * 1024 } });
      }
      const fits = await request(url, { method: 'POST', body: Buffer.alloc(1024, 0xff) });
      expect(fits.statusCode).toBe(202);
      await fits.body.dump();
      const events = (await small.events.list(run.runId)).data;
      expect(events.filter((event) => event.eventType === 'hook_received')).toHaveLength(1);
    } finally {
      await smallServed.server.close();
      await small.close();
      await rm(directory, { recursive: true, force: true });
    }
  });
});
