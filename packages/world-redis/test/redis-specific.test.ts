import { InvalidInputError, WorldClosedError, WorldUnavailableError } from '@cairn/core/world';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisWorld } from '../src/index.js';
import { freePort, type RedisServer, startRedis } from '../src/testing.js';
import { createTestWorld, freshPrefix, redisUrl } from './helpers.js';

const runCreated = { eventType: 'run_created', eventData: { workflowName: 'specific' } } as const;

describe('world-redis: starting up', () => {
  it('an unreachable server is WorldUnavailableError naming host and port', async () => {
    const port = await freePort();
    const world = createRedisWorld({ url: `redis://127.0.0.1:${port}` });
    const error = await world.open().catch((caught: unknown) => caught);
    expect(WorldUnavailableError.is(error)).toBe(true);
    expect((error as WorldUnavailableError).location).toBe(`127.0.0.1:${port}`);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
    await world.close();
  });

  it('bad options are InvalidInputError naming the field', () => {
    expect(() => createRedisWorld({ url: 'http://x' })).toThrow(InvalidInputError);
    expect(() => createRedisWorld({} as never)).toThrow(/exactly one of url, cluster or client/);
    expect(() => createRedisWorld({ url: redisUrl, prefix: 'a{b}' })).toThrow(/options\.prefix/);
    expect(() => createRedisWorld({ url: redisUrl, partitions: 0 })).toThrow(/options\.partitions/);
  });

  it('a prefix opened with another partition count is refused', async () => {
    const prefix = freshPrefix();
    const first = createRedisWorld({ url: redisUrl, prefix, partitions: 8 });
    await first.open();
    const second = createRedisWorld({ url: redisUrl, prefix, partitions: 16 });
    await expect(second.open()).rejects.toThrow(/created with 8 partitions/);
    await Promise.all([first.close(), second.close()]);
  });

  it('takes an existing ioredis client and leaves it open', async () => {
    const client = new Redis(redisUrl);
    const world = createRedisWorld({ client, prefix: freshPrefix() });
    const { event } = await world.events.create(null, runCreated);
    expect((await world.runs.get(event.runId)).status).toBe('pending');
    await world.close();
    expect(await client.ping()).toBe('PONG');
    client.disconnect();
  });

  it('reloads its scripts after the server forgot them (SCRIPT FLUSH, a restart)', async () => {
    const world = createTestWorld('single');
    const { event } = await world.events.create(null, runCreated);
    const client = new Redis(redisUrl);
    await client.script('FLUSH');
    client.disconnect();
    await world.events.create(event.runId, { eventType: 'run_started' });
    expect((await world.runs.get(event.runId)).status).toBe('running');
    await world.close();
  });
});

describe('world-redis: closing while a live read waits on the server', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server.stop());

  it('close ends a live read whose Redis call has no answer yet', async () => {
    const world = createRedisWorld({ url: server.url, prefix: freshPrefix() });
    const { event } = await world.events.create(null, runCreated);
    // The server answers nothing for two seconds, so the read's first call is in flight
    // when the World closes.
    const admin = new Redis(server.url);
    await admin.client('PAUSE', 2000, 'ALL');
    const reading = (async () => {
      for await (const _ of world.streams.read(event.runId, 'never-written')) expect.fail('no chunk was written');
    })().then(
      () => 'ended',
      (error: unknown) => (WorldClosedError.is(error) ? 'ended' : error),
    );
    const closedAt = performance.now();
    await world.close();
    expect(await reading).toBe('ended');
    // Ended by the close, not by the server answering once the pause was over.
    expect(performance.now() - closedAt).toBeLessThan(1500);
    admin.disconnect();
  });
});

describe('world-redis: many live waits at once', () => {
  it('keeps twenty live watches waiting without a listener-leak warning', async () => {
    // Each live call listens for the World's close; that many listeners is the design.
    const warnings: string[] = [];
    const onWarning = (warning: Error) => {
      if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning.message);
    };
    process.on('warning', onWarning);
    const world = createTestWorld('single');
    try {
      const runIds: string[] = [];
      for (let index = 0; index < 20; index++) runIds.push((await world.events.create(null, runCreated)).event.runId);
      const watching = runIds.map((runId) => world.events.watch(runId, 1));
      for (const runId of runIds) await world.events.create(runId, { eventType: 'run_started' });
      await Promise.all(watching);
      // Warnings are emitted on a later tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.off('warning', onWarning);
      await world.close();
    }
    expect(warnings).toEqual([]);
  });
});

describe('world-redis: an outage after start', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(() => server.stop());

  it('calls reject with WorldUnavailableError naming the server while it is down, and work once it is back', async () => {
    const world = createRedisWorld({ url: server.url, prefix: freshPrefix() });
    const { event } = await world.events.create(null, runCreated);
    await server.kill();
    const error = await world.runs.get(event.runId).catch((caught: unknown) => caught);
    expect(WorldUnavailableError.is(error)).toBe(true);
    expect((error as WorldUnavailableError).location).toBe(`127.0.0.1:${server.port}`);
    await server.start();
    expect((await world.runs.get(event.runId)).runId).toBe(event.runId);
    await world.close();
  }, 60_000);
});

describe('world-redis: server settings', () => {
  let evicting: RedisServer;
  let volatile: RedisServer;
  beforeAll(async () => {
    [evicting, volatile] = await Promise.all([
      startRedis(['--maxmemory-policy', 'allkeys-lru']),
      startRedis(['--appendonly', 'no', '--save', '']),
    ]);
  });
  afterAll(() => Promise.all([evicting.stop(), volatile.stop()]));

  it('refuses a maxmemory-policy that may evict its keys, naming the server and the policy', async () => {
    const world = createRedisWorld({ url: evicting.url });
    const error = await world.open().catch((caught: unknown) => caught);
    expect(WorldUnavailableError.is(error)).toBe(true);
    expect((error as Error).message).toContain('allkeys-lru');
    expect((error as Error).message).toContain(`127.0.0.1:${evicting.port}`);
    await world.close();
  });

  it("with evictionPolicy: 'warn' it opens, and warns on the console by default", async () => {
    const warnings: unknown[] = [];
    const original = console.warn;
    console.warn = (...args: unknown[]) => warnings.push(args.join(' '));
    try {
      const world = createRedisWorld({ url: evicting.url, evictionPolicy: 'warn' });
      await world.open();
      await world.close();
    } finally {
      console.warn = original;
    }
    expect(String(warnings[0])).toContain('allkeys-lru');
  });

  it("with evictionPolicy: 'warn' and a logger, the warning goes to the logger and not the console", async () => {
    const lines: { level: string; message: string; details?: Record<string, unknown> }[] = [];
    const record = (level: string) => (message: string, details?: Record<string, unknown>) =>
      lines.push({ level, message, ...(details ? { details } : {}) });
    const consoleLines: unknown[] = [];
    const original = console.warn;
    console.warn = (...args: unknown[]) => consoleLines.push(args);
    try {
      const world = createRedisWorld({
        url: evicting.url,
        evictionPolicy: 'warn',
        logger: { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') },
      });
      await world.open();
      await world.close();
      const silent = createRedisWorld({ url: evicting.url, evictionPolicy: 'warn', logger: false });
      await silent.open();
      await silent.close();
    } finally {
      console.warn = original;
    }
    expect(consoleLines).toEqual([]);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'warn',
      details: { server: `127.0.0.1:${evicting.port}`, maxmemoryPolicy: 'allkeys-lru' },
    });
    expect(lines[0]!.message).toContain('noeviction');
  });

  it('a logger that is not one is InvalidInputError naming the field', () => {
    const thrown = (() => {
      try {
        createRedisWorld({ url: evicting.url, logger: 'loud' as never });
      } catch (error) {
        return error;
      }
    })();
    expect(InvalidInputError.is(thrown)).toBe(true);
    expect(thrown).toMatchObject({ field: 'options.logger', value: 'loud' });
  });

  it('capabilities.durability follows the persistence settings: fsync with appendfsync always, memory with none', async () => {
    const safe = createTestWorld('single');
    const unsafe = createRedisWorld({ url: volatile.url });
    await Promise.all([safe.open(), unsafe.open()]);
    expect(safe.capabilities.durability).toBe('fsync');
    expect(unsafe.capabilities.durability).toBe('memory');
    await Promise.all([safe.close(), unsafe.close()]);
  });
});

describe('world-redis: stream readers', () => {
  it('a reader waiting for a stream ends as soon as its run ends without it, not at the next poll', async () => {
    // A poll far longer than the test's bound: only the run's own notification can end the read.
    const world = createTestWorld('single', { pollIntervalMs: 60_000 });
    try {
      const { event } = await world.events.create(null, runCreated);
      await world.events.create(event.runId, { eventType: 'run_started', eventData: {} });
      // Reading a closed stream to its end connects the World's subscriber first, whose
      // arrival wakes every waiter once (it would wake our reader for a second look).
      await world.streams.close(event.runId, 'warm-up');
      for await (const _ of world.streams.read(event.runId, 'warm-up')) throw new Error('the stream is empty');
      // The reader's last look before it waits is its LRANGE of the stream's chunks: once
      // the server has run that, the reader has found the run going and the stream missing,
      // and its subscriptions (taken before it looked) catch whatever is published next.
      const monitor = await new Redis(redisUrl).monitor();
      const looked = new Promise<void>((resolve) =>
        monitor.on('monitor', (_time: string, args: string[]) => {
          if (args[0]?.toLowerCase() === 'lrange' && args[1]?.includes(event.runId) && args[1].includes('never'))
            resolve();
        }),
      );
      const chunks: unknown[] = [];
      const reading = (async () => {
        for await (const chunk of world.streams.read(event.runId, 'never')) chunks.push(chunk);
      })();
      await looked;
      monitor.disconnect();
      await world.events.create(event.runId, { eventType: 'run_completed', eventData: {} });
      const outcome = await Promise.race([
        reading.then(() => 'ended'),
        new Promise((resolve) => setTimeout(() => resolve('still waiting after 5 s'), 5000)),
      ]);
      expect(outcome).toBe('ended');
      expect(chunks).toEqual([]);
    } finally {
      await world.close();
    }
  });
});
