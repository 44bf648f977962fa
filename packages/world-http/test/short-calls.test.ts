import { createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ShortCalls } from '../src/short-calls.js';

/** What a scripted server saw: each request as text, and on which connection it came. */
interface Seen {
  requests: { connection: number; text: string }[];
  connections: number;
}

/**
 * A server that answers each request (read whole by its content-length) with `answer`,
 * given the request's index overall and its connection's socket.
 */
async function scripted(
  answer: (index: number, socket: Socket) => void,
): Promise<{ server: Server; seen: Seen; port: number }> {
  const seen: Seen = { requests: [], connections: 0 };
  const server = createServer((socket) => {
    const connection = ++seen.connections;
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/content-length: (\d+)/i.exec(buffered.toString('latin1', 0, end))?.[1] ?? 0);
        if (buffered.length < end + 4 + length) return;
        seen.requests.push({ connection, text: buffered.subarray(0, end + 4 + length).toString() });
        buffered = buffered.subarray(end + 4 + length);
        answer(seen.requests.length - 1, socket);
      }
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  servers.push(server);
  return { server, seen, port: (server.address() as { port: number }).port };
}

const servers: Server[] = [];
const pools: ShortCalls[] = [];
afterEach(async () => {
  await Promise.all(pools.splice(0).map((pool) => pool.close()));
  for (const server of servers.splice(0)) {
    server.close();
  }
});

function poolFor(port: number): ShortCalls {
  const pool = new ShortCalls('127.0.0.1', port, `127.0.0.1:${port}`, 'Bearer secret');
  pools.push(pool);
  return pool;
}

const ok = (body: string, extra = '') =>
  `HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;

describe('world-http short calls', () => {
  it('sends one POST with the body length in bytes, and reads an answer that arrives a byte at a time', async () => {
    const body = JSON.stringify({ result: 'ünïcödé ✓' });
    const { port, seen } = await scripted((_, socket) => {
      const bytes = Buffer.from(ok(body));
      let at = 0;
      const next = () => {
        if (at < bytes.length) socket.write(bytes.subarray(at, ++at), next);
      };
      next();
    });
    const payload = JSON.stringify({ value: 'é' });
    const answer = await poolFor(port).call('/v1/events.create', payload);
    expect(answer).toEqual({ status: 200, text: body });
    expect(seen.requests[0]!.text).toBe(
      `POST /v1/events.create HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nauthorization: Bearer secret\r\n` +
        `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(payload)}\r\n\r\n${payload}`,
    );
  });

  it('reuses a connection for calls one after another, and opens more for calls at once', async () => {
    const { port, seen } = await scripted((index, socket) => socket.write(ok(`{"n":${index}}`)));
    const pool = poolFor(port);
    for (let i = 0; i < 3; i++) await pool.call('/v1/x', '{}');
    expect(seen.connections).toBe(1);
    const answers = await Promise.all([pool.call('/v1/x', '{}'), pool.call('/v1/x', '{}'), pool.call('/v1/x', '{}')]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200]);
    expect(seen.connections).toBe(3);
  });

  it('reads a chunked answer with extensions and trailers, and skips an informational answer before it', async () => {
    const { port, seen } = await scripted((_, socket) => {
      socket.write('HTTP/1.1 100 Continue\r\n\r\n');
      socket.write('HTTP/1.1 409 Conflict\r\ntransfer-encoding: chunked\r\n\r\n');
      socket.write('4;name=value\r\n{"er\r\n');
      socket.write('a\r\nror":true}\r\n0\r\nx-trailer: 1\r\n\r\n');
    });
    const pool = poolFor(port);
    expect(await pool.call('/v1/x', '{}')).toEqual({ status: 409, text: '{"error":true}' });
    expect(await pool.call('/v1/x', '{}')).toEqual({ status: 409, text: '{"error":true}' });
    expect(seen.connections).toBe(1);
  });

  it('reads an answer without a length to the end of the connection, and does not reuse it', async () => {
    const { port, seen } = await scripted((_, socket) => socket.end('HTTP/1.1 200 OK\r\n\r\n{"a":1}'));
    const pool = poolFor(port);
    expect(await pool.call('/v1/x', '{}')).toEqual({ status: 200, text: '{"a":1}' });
    expect(await pool.call('/v1/x', '{}')).toEqual({ status: 200, text: '{"a":1}' });
    expect(seen.connections).toBe(2);
  });

  it('does not reuse a connection the server will close, or one it gives a second or less', async () => {
    for (const extra of ['connection: close\r\n', 'keep-alive: timeout=1\r\n']) {
      const { port, seen } = await scripted((_, socket) => socket.write(ok('{}', extra)));
      const pool = poolFor(port);
      await pool.call('/v1/x', '{}');
      await pool.call('/v1/x', '{}');
      expect(seen.connections, extra).toBe(2);
    }
  });

  it('drops a connection that sent more than the answer, or anything while idle', async () => {
    const extra = await scripted((_, socket) => socket.write(`${ok('{"a":1}')}HTTP/1.1 200 OK\r\n`));
    const first = poolFor(extra.port);
    expect((await first.call('/v1/x', '{}')).text).toBe('{"a":1}');
    expect((await first.call('/v1/x', '{}')).text).toBe('{"a":1}');
    expect(extra.seen.connections).toBe(2);

    const sockets: Socket[] = [];
    const unsolicited = await scripted((index, socket) => {
      sockets.push(socket);
      socket.write(ok(`{"n":${index}}`));
    });
    const second = poolFor(unsolicited.port);
    await second.call('/v1/x', '{}');
    sockets[0]!.write(ok('{"forged":true}'));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await second.call('/v1/x', '{}')).toEqual({ status: 200, text: '{"n":1}' });
    expect(unsolicited.seen.connections).toBe(2);
  });

  it('opens a new connection when the server closed the idle one', async () => {
    const { port, seen } = await scripted((index, socket) => {
      socket.write(ok(`{"n":${index}}`));
      if (index === 0) socket.end();
    });
    const pool = poolFor(port);
    await pool.call('/v1/x', '{}');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(await pool.call('/v1/x', '{}')).toEqual({ status: 200, text: '{"n":1}' });
    expect(seen.connections).toBe(2);
  });

  it('rejects a call whose connection closes before the answer is complete, or whose answer is not HTTP/1.1', async () => {
    const cut = await scripted((_, socket) => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{"a"'));
    await expect(poolFor(cut.port).call('/v1/x', '{}')).rejects.toThrow(/closed before the answer/);
    const garbled = await scripted((_, socket) => socket.write('SMTP ready\r\n\r\n'));
    await expect(poolFor(garbled.port).call('/v1/x', '{}')).rejects.toThrow(/not HTTP/);
    const refused = await scripted(() => {});
    refused.server.close();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await expect(poolFor(refused.port).call('/v1/x', '{}')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('closes once the call in progress has its answer, and refuses calls from then on', async () => {
    let respond: (() => void) | undefined;
    const { port } = await scripted((_, socket) => {
      respond = () => socket.write(ok('{"late":true}'));
    });
    const pool = poolFor(port);
    const call = pool.call('/v1/x', '{}');
    await new Promise((resolve) => setTimeout(resolve, 50));
    let closed = false;
    const closing = pool.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closed).toBe(false);
    respond!();
    expect(await call).toEqual({ status: 200, text: '{"late":true}' });
    await closing;
    await expect(pool.call('/v1/x', '{}')).rejects.toThrow(/closing/);
  });
});
