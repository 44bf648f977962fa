import {
  type Logger,
  maxQueueDelayMs,
  parseInput,
  resolveLogger,
  type World,
  type WorldCapabilities,
} from '@cairn/core/world';
import { z } from 'zod';
import { connectionShape, locationOf, openClient, requireOneSource } from './connection.js';
import { HookTokens } from './hook-tokens.js';
import { Keys } from './keys.js';
import { Notifications } from './notifications.js';
import { OutboxRelay } from './outbox-relay.js';
import { RedisEventLog } from './redis-event-log.js';
import { RedisQueue } from './redis-queue.js';
import { RedisStreams } from './redis-streams.js';
import { RedisViews } from './redis-views.js';
import { scriptBodies } from './scripts.js';
import { Store } from './store.js';

const redisWorldOptionsSchema = z
  .strictObject({
    ...connectionShape,
    /** Every key starts with it, so several Worlds (or other data) can share one Redis. Default `cairn`. */
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1 to 64 letters, digits, . _ or -')
      .optional(),
    /**
     * Partitions (one hash slot each) the store is spread over. Fixed for the life of the
     * data under a prefix: opening it with another count is refused. More partitions spread
     * a cluster more evenly; each costs idle consumers one lease call per poll. Default 16.
     */
    partitions: z.number().int('must be a whole number').min(1).max(1024).optional(),
    /** Fallback poll for consumers, and a quarter of the fallback for watches and live reads. Default 500 ms. */
    pollIntervalMs: z.number().int('must be whole milliseconds').min(10).max(600_000).optional(),
    /** Largest event batch or queue payload, serialised. Default 16 MiB. */
    maxPayloadBytes: z
      .number()
      .int()
      .min(1024)
      .max(256 * 1024 * 1024)
      .optional(),
    /** Lease for consumers that do not pass `leaseMs`. Default 30 s. */
    defaultLeaseMs: z.number().int().min(10).optional(),
    /** How long an acknowledged message's idempotency key keeps deduplicating. Default 24 h. */
    idempotencyRetentionMs: z.number().int().min(0).optional(),
    /**
     * What to do when a server's `maxmemory-policy` is not `noeviction` (it could evict the
     * World's keys): `refuse` (default) fails `open()` with WorldUnavailableError; `warn`
     * opens anyway and warns through `logger`.
     */
    evictionPolicy: z.enum(['refuse', 'warn']).optional(),
    /**
     * Where the World reports what an operator must act on (a risky eviction policy under
     * `evictionPolicy: 'warn'`). Default: the console at `warn` (or `CAIRN_LOG_LEVEL`);
     * `false` silences it. Checked by `resolveLogger`.
     */
    logger: z.custom<Logger | false>(() => true).optional(),
  })
  .superRefine(requireOneSource);
export type RedisWorldOptions = z.input<typeof redisWorldOptionsSchema>;

export interface RedisWorld extends World {
  /** Connects and checks the servers now instead of on first use, to surface a problem early. */
  open(): Promise<void>;
}

/**
 * The World on Redis: one server, or a Redis Cluster. Every append is one Lua script in
 * the run's partition (scripts/append.lua); the queue, streams and hook-token claims are
 * scripts too. Pub/sub wakes watchers, consumers and stream readers; polling is only the
 * fallback. Nothing connects until first use (or `open()`); an unreachable server is
 * WorldUnavailableError naming host:port.
 */
export function createRedisWorld(options: RedisWorldOptions): RedisWorld {
  const parsed = parseInput(redisWorldOptionsSchema, options, 'options');
  const prefix = parsed.prefix ?? 'cairn';
  const keys = new Keys(prefix, parsed.partitions ?? 16);
  const location = locationOf(parsed);
  const name = `redis:${location}/${prefix}`;
  const maxPayloadBytes = parsed.maxPayloadBytes ?? 16 * 1024 * 1024;
  const pollIntervalMs = parsed.pollIntervalMs ?? 500;
  const { client, owned } = openClient(parsed);
  const store = new Store(
    client,
    keys,
    name,
    location,
    {
      evictionPolicy: parsed.evictionPolicy ?? 'refuse',
      logger: resolveLogger(parsed.logger as Logger | false | undefined, 'options.logger'),
    },
    scriptBodies,
  );
  const capabilities: WorldCapabilities = {
    sharedAcrossProcesses: true,
    // Known once open: `fsync` with appendfsync always on every server, `memory` without
    // persistence, `database` otherwise (what Redis's own settings promise).
    get durability() {
      return store.durability;
    },
    maxPayloadBytes,
    maxFutureCreatedAtMs: 10_000,
    notifications: 'push',
    // append.lua keeps each run's delivery ids in the run's slot and checks them in the append.
    uniqueDeliveryIds: true,
    queue: {
      maxDelayMs: maxQueueDelayMs,
      defaultLeaseMs: parsed.defaultLeaseMs ?? 30_000,
      idempotencyRetentionMs: parsed.idempotencyRetentionMs ?? 24 * 60 * 60 * 1000,
      // A claimed message is leased inside the append (scripts/lib.lua, queue_claimed), or
      // by the relay when it lives in another partition; see outbox.ts.
      claims: true,
    },
    // append.lua closes the run's open streams in the append that ends it.
    streams: { maxChunkBytes: Math.min(maxPayloadBytes, 4 * 1024 * 1024), closedWithRun: true },
  };
  const notifications = new Notifications(client, keys.channel);
  const relay = new OutboxRelay(store, capabilities.queue.idempotencyRetentionMs);
  const events = new RedisEventLog(store, notifications, new HookTokens(store), relay, {
    maxPayloadBytes,
    maxFutureCreatedAtMs: capabilities.maxFutureCreatedAtMs,
    idempotencyRetentionMs: capabilities.queue.idempotencyRetentionMs,
    pollIntervalMs,
  });
  const views = new RedisViews(store);
  const queue = new RedisQueue(store, notifications, relay, { ...capabilities.queue, maxPayloadBytes, pollIntervalMs });
  const streams = new RedisStreams(store, notifications, capabilities.streams.maxChunkBytes, pollIntervalMs);

  let closing: Promise<void> | undefined;
  return {
    name,
    capabilities,
    open: () => store.open(),
    events: {
      create: events.create.bind(events),
      createBatch: events.createBatch.bind(events),
      list: events.list.bind(events),
      get: events.get.bind(events),
      watch: events.watch.bind(events),
    },
    runs: views.runs,
    steps: views.steps,
    hooks: views.hooks,
    waits: views.waits,
    queue: {
      send: queue.send.bind(queue),
      consume: queue.consume.bind(queue),
      extendClaim: queue.extendClaim.bind(queue),
      settleClaim: queue.settleClaim.bind(queue),
    },
    streams: {
      write: streams.write.bind(streams),
      close: streams.close.bind(streams),
      read: streams.read.bind(streams),
      list: streams.list.bind(streams),
    },
    close: () => {
      closing ??= (async () => {
        // Live waits end first, so no handler can keep close() waiting on a watch; then
        // consumers drain (their handlers may still use the World); then relays in flight
        // finish; then everything rejects.
        store.startClosing();
        notifications.wakeAll();
        await queue.close();
        await relay.close();
        store.closed = true;
        await notifications.close();
        if (owned) client.disconnect();
      })();
      return closing;
    },
  };
}
