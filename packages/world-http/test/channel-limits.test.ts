import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { resolveLogger } from '@cairn/core/world';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenTable } from '../src/auth.js';
import { ChannelServer } from '../src/channel-server.js';
import { openRawChannel, tokens } from './helpers.js';

// A channel server pinging every 40 ms and running at most 100 calls per channel, in front
// of routes that answer at once, except `park`, which answers when the test lets it.
let parked: (() => void)[] = [];
const channels = new ChannelServer(
  {
    tokens: new TokenTable([{ token: tokens.worker, role: 'worker' }]),
    maxBodyBytes: 64 * 1024,
    logger: resolveLogger(false),
    closing: () => false,
    assertOpen: () => {},
    call: async (route) => {
      if (route === 'park') await new Promise<void>((resolve) => parked.push(resolve));
      return { route };
    },
    replacerFor: () => undefined,
  },
  { heartbeatMs: 40, maxCallsInFlight: 100 },
);
const server = createServer((_request, response) => response.end());
server.on('upgrade', channels.upgrade);
let port: number;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  await channels.closeAll(100);
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

describe('world-http: the call channel’s limits', () => {
  it('cuts a channel whose client stops answering pings (half-open), and keeps one that answers', async () => {
    // A client that opens the channel by hand and then never answers, as a vanished peer.
    const silent = connect(port, '127.0.0.1');
    silent.write(
      `GET /v1/channel HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\n` +
        `sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n` +
        `authorization: Bearer ${tokens.worker}\r\n\r\n`,
    );
    let handshake = '';
    await new Promise<void>((resolve) => {
      silent.on('data', (data) => {
        handshake += data.toString('latin1');
        if (handshake.includes('\r\n\r\n')) resolve();
      });
    });
    expect(handshake).toMatch(/^HTTP\/1\.1 101/);
    const live = await openRawChannel(`http://127.0.0.1:${port}`, tokens.worker);
    let liveClosed = false;
    live.onclose = () => {
      liveClosed = true;
    };
    await new Promise((resolve) => silent.once('close', resolve));
    // Cut after four unanswered pings (each an empty ping frame, 0x89 0x00), not at the first.
    const frames = handshake.slice(handshake.indexOf('\r\n\r\n') + 4);
    expect(frames).toBe('\x89\x00'.repeat(4));
    // The channel that answers pings is still open, and answers a call.
    expect(liveClosed).toBe(false);
    const answer = await new Promise<string>((resolve) => {
      live.onmessage = (event) => resolve(String(event.data));
      live.send(JSON.stringify({ id: 1, route: 'runs.list', body: {} }));
    });
    expect(JSON.parse(answer)).toEqual({ id: 1, result: { route: 'runs.list' } });
    live.close();
  });

  it('refuses calls past its limit per channel as unavailable, and still answers other channels', async () => {
    const open = async () => {
      const socket = await openRawChannel(`http://127.0.0.1:${port}`, tokens.worker);
      const answers: { id: number; status?: number; error?: { code: string }; result?: unknown }[] = [];
      socket.onmessage = (event) => answers.push(JSON.parse(String(event.data)));
      return { socket, answers };
    };
    const until = async (condition: () => boolean) => {
      while (!condition()) await new Promise((resolve) => setTimeout(resolve, 10));
    };
    const flooder = await open();
    for (let id = 1; id <= 150; id++) flooder.socket.send(JSON.stringify({ id, route: 'park', body: {} }));
    // The 50 past the limit are refused at once, as retryable; the first 100 wait.
    await until(() => flooder.answers.length === 50);
    expect(flooder.answers.map((answer) => answer.id)).toEqual(Array.from({ length: 50 }, (_, index) => 101 + index));
    expect(new Set(flooder.answers.map((answer) => `${answer.status} ${answer.error?.code}`))).toEqual(
      new Set(['503 WORLD_UNAVAILABLE']),
    );
    expect(parked).toHaveLength(100);
    const other = await open();
    other.socket.send(JSON.stringify({ id: 1, route: 'runs.list', body: {} }));
    await until(() => other.answers.length === 1);
    expect(other.answers[0]).toEqual({ id: 1, result: { route: 'runs.list' } });
    // Once they are let go, the waiting calls are answered, each once.
    for (const release of parked.splice(0)) release();
    await until(() => flooder.answers.length === 150);
    expect(new Set(flooder.answers.map((answer) => answer.id)).size).toBe(150);
    flooder.socket.close();
    other.socket.close();
    parked = [];
  });
});
