import { createServer } from 'node:http';
import { type AddressInfo, connect } from 'node:net';
import { resolveLogger } from '@cairn/core/world';
import { WebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TokenTable } from '../src/auth.js';
import { ChannelServer } from '../src/channel-server.js';
import { tokens } from './helpers.js';

// A channel server pinging every 40 ms, in front of a route that answers at once.
const channels = new ChannelServer(
  {
    tokens: new TokenTable([{ token: tokens.worker, role: 'worker' }]),
    maxBodyBytes: 64 * 1024,
    logger: resolveLogger(false),
    closing: () => false,
    assertOpen: () => {},
    call: async (route) => ({ route }),
    replacerFor: () => undefined,
  },
  40,
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

describe('world-http: the call channel heartbeat', () => {
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
    const live = new WebSocket(`ws://127.0.0.1:${port}/v1/channel`, {
      headers: { authorization: `Bearer ${tokens.worker}` },
    });
    let liveClosed = false;
    live.onclose = () => {
      liveClosed = true;
    };
    await new Promise((resolve) => {
      live.onopen = resolve;
    });
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
});
