import { connect, type Socket } from 'node:net';
import { InvalidInputError, type World } from '@cairn/core/world';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpWorld, createWorldServer, ForbiddenError, UnauthorizedError } from '../src/index.js';
import { localWorld, type Served, serve, tokens } from './helpers.js';

let served: Served;
let backing: World;
beforeAll(async () => {
  backing = await localWorld();
  served = await serve(backing, { headersTimeoutMs: 500 });
});
afterAll(async () => {
  await served.server.close();
  await backing.close();
});

describe('world-http: tokens and roles', () => {
  it('a read token reads views, events and streams but cannot write, send or consume', async () => {
    const { run } = await backing.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
    await backing.streams.write(run.runId, 'out', 'chunk');
    await backing.streams.close(run.runId, 'out');
    const reader = await createHttpWorld({ url: served.url, token: tokens.read });
    expect((await reader.runs.get(run.runId)).runId).toBe(run.runId);
    expect((await reader.events.list(run.runId)).data).toHaveLength(1);
    const chunks: unknown[] = [];
    for await (const chunk of reader.streams.read(run.runId, 'out')) chunks.push(chunk.data);
    expect(chunks).toEqual(['chunk']);
    const refused = [
      reader.events.create(run.runId, { eventType: 'run_started' }),
      reader.queue.send('jobs', 1),
      reader.streams.write(run.runId, 'out', 'x'),
    ];
    for (const attempt of refused) {
      const error = await attempt.catch((caught: unknown) => caught);
      expect(ForbiddenError.is(error), String(error)).toBe(true);
      expect((error as ForbiddenError).role).toBe('read');
    }
    expect((await backing.events.list(run.runId)).data).toHaveLength(1);
    await reader.close();
  });

  it('refuses a wrong token when connecting, and rotates tokens without a restart', async () => {
    await expect(createHttpWorld({ url: served.url, token: 'not-a-valid-token-at-all' })).rejects.toSatisfy(
      UnauthorizedError.is,
    );
    const next = `rotated-${'n'.repeat(30)}`;
    // Old and new are valid at once while clients move over.
    served.server.setTokens([
      { token: tokens.worker, role: 'worker' },
      { token: next, role: 'worker' },
      { token: tokens.read, role: 'read' },
    ]);
    const moved = await createHttpWorld({ url: served.url, token: next });
    const old = await createHttpWorld({ url: served.url, token: tokens.worker });
    await moved.runs.list();
    await old.runs.list();
    served.server.setTokens([
      { token: next, role: 'worker' },
      { token: tokens.read, role: 'read' },
    ]);
    await moved.runs.list();
    await expect(old.runs.list()).rejects.toSatisfy(UnauthorizedError.is);
    served.server.setTokens([
      { token: tokens.worker, role: 'worker' },
      { token: tokens.read, role: 'read' },
    ]);
    await Promise.all([moved.close(), old.close()]);
  });

  it('refuses short tokens and unknown roles when the server is created', () => {
    expect(() => served.server.setTokens([{ token: 'short', role: 'worker' }])).toThrow(InvalidInputError);
    expect(() => served.server.setTokens([{ token: 'x'.repeat(30), role: 'admin' as never }])).toThrow(
      /tokens\[0\]\.role/,
    );
    expect(() => served.server.setTokens([])).toThrow(InvalidInputError);
    // A grant passed without its array: the error names the field without printing the token.
    const unwrapped = () => served.server.setTokens({ token: tokens.worker, role: 'worker' } as never);
    expect(unwrapped).toThrow(InvalidInputError);
    expect(unwrapped).not.toThrow(tokens.worker);
  });
});

describe('world-http: slow and half-open connections', () => {
  it('100 connections stalling in their headers do not slow other clients, and are cut off', async () => {
    const { port } = new URL(served.url);
    const stalled: Socket[] = [];
    const closed: Promise<void>[] = [];
    for (let index = 0; index < 100; index++) {
      const socket = connect(Number(port), '127.0.0.1');
      socket.on('error', () => {});
      // Read whatever the server answers (a 408), so its end of the connection is seen.
      socket.resume();
      closed.push(new Promise((resolve) => socket.on('close', () => resolve())));
      socket.write('POST /v1/runs.list HTTP/1.1\r\nhost: x\r\nx-slow: ');
      stalled.push(socket);
    }
    const client = await createHttpWorld({ url: served.url, token: tokens.worker });
    const started = Date.now();
    for (let index = 0; index < 50; index++) await client.runs.list({ limit: 1 });
    expect(Date.now() - started).toBeLessThan(5000);
    // The server drops every stalled connection once its 500 ms header timeout passes.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(closed),
      new Promise((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(
                `stalled connections were not closed within 5 s: ${JSON.stringify(
                  stalled
                    .filter((socket) => !socket.destroyed)
                    .map((s) => [s.connecting, s.bytesWritten, s.localPort, s.readyState])
                    .slice(0, 5),
                )} open`,
              ),
            ),
          5000,
        );
      }),
    ]);
    clearTimeout(timer);
    await client.close();
  });
});

describe('world-http: the header deadline', () => {
  it('does not cut a pipelined long-poll when the request before it is answered', async () => {
    const world = await localWorld();
    // The deadline after a response (keep-alive + headers, 300 ms) is far shorter than the long-poll.
    const short = await serve(world, { headersTimeoutMs: 200, keepAliveTimeoutMs: 100 });
    try {
      const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'w' } });
      const socket = connect(Number(new URL(short.url).port), '127.0.0.1');
      socket.on('error', () => {});
      let received = '';
      socket.on('data', (bytes) => {
        received += bytes.toString();
      });
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      const watch = JSON.stringify({ runId: run.runId, afterSeq: run.lastSeq, waitMs: 1000 });
      // Both requests in one write: the second is already in progress when the first is answered.
      socket.write(
        `GET /v1/capabilities HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${tokens.read}\r\n\r\n` +
          `POST /v1/events.watch HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${tokens.read}\r\n` +
          `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(watch)}\r\n\r\n${watch}`,
      );
      const started = Date.now();
      await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 3000))]);
      // Both answered: the long-poll ran its full second, and only then did the idle deadline close the connection.
      expect(received.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
      expect(received).toContain('{"result":{"ready":false}}');
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      socket.destroy();
    } finally {
      await short.server.close();
      await world.close();
    }
  });
  it('answers a body that is not JSON with a typed 400 and keeps the connection for the next request', async () => {
    const socket = connect(Number(new URL(served.url).port), '127.0.0.1');
    socket.on('error', () => {});
    let received = '';
    socket.on('data', (bytes) => {
      received += bytes.toString();
    });
    const request = (body: string) =>
      `POST /v1/runs.list HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${tokens.read}\r\n` +
      `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    socket.write(request('{not json'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received).toMatch(/^HTTP\/1\.1 400/);
    expect(received).toContain('"field":"body"');
    expect(received.toLowerCase()).not.toContain('connection: close');
    socket.write(request('{"options":{"limit":1}}'));
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received.match(/HTTP\/1\.1 200/g)).toHaveLength(1);
    expect(socket.destroyed).toBe(false);
    socket.destroy();
  });
});

describe('world-http: long tokens', () => {
  it('a token the server accepts in its configuration also authenticates', async () => {
    const long = `long-${'x'.repeat(1100)}`;
    try {
      let configured = true;
      try {
        served.server.setTokens([
          { token: long, role: 'worker' },
          { token: tokens.worker, role: 'worker' },
          { token: tokens.read, role: 'read' },
        ]);
      } catch (error) {
        configured = false;
        // Refused up front is as good as working: what must not happen is a token that never works.
        expect(InvalidInputError.is(error)).toBe(true);
        expect((error as InvalidInputError).field).toBe('tokens[0].token');
        expect(JSON.stringify((error as InvalidInputError).toJSON())).not.toContain(long);
      }
      if (configured) {
        const client = await createHttpWorld({ url: served.url, token: long });
        await client.runs.list();
        await client.close();
      }
    } finally {
      served.server.setTokens([
        { token: tokens.worker, role: 'worker' },
        { token: tokens.read, role: 'read' },
      ]);
    }
  });
});

describe('world-http: a token listed twice', () => {
  it('is refused when the server is created and by setTokens, naming the repeat without printing the token', async () => {
    const repeated = `repeated-${'r'.repeat(30)}`;
    const other = `other-${'o'.repeat(30)}`;
    const configurations = [
      // Same role twice, then a different role: neither may pass, since one of them would be ignored.
      {
        grants: [
          { token: repeated, role: 'worker' as const },
          { token: repeated, role: 'worker' as const },
        ],
        field: 'tokens[1].token',
      },
      {
        grants: [
          { token: repeated, role: 'read' as const },
          { token: other, role: 'worker' as const },
          { token: repeated, role: 'worker' as const },
        ],
        field: 'tokens[2].token',
      },
    ];
    for (const { grants, field } of configurations) {
      for (const configure of [
        () => createWorldServer({ world: backing, tokens: grants }),
        () => served.server.setTokens(grants),
      ]) {
        const error = (() => {
          try {
            configure();
          } catch (caught) {
            return caught;
          }
        })();
        expect(InvalidInputError.is(error), String(error)).toBe(true);
        expect((error as InvalidInputError).field).toBe(field);
        const shown = `${String(error)} ${(error as Error).stack} ${JSON.stringify((error as InvalidInputError).toJSON())}`;
        expect(shown).not.toContain(repeated);
      }
    }
    // The refused set changed nothing: the tokens configured before still work, with their roles.
    const worker = await createHttpWorld({ url: served.url, token: tokens.worker });
    const reader = await createHttpWorld({ url: served.url, token: tokens.read });
    await worker.runs.list();
    await expect(reader.queue.send('jobs', 1)).rejects.toSatisfy(ForbiddenError.is);
    await Promise.all([worker.close(), reader.close()]);
  });
});
