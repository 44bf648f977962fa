import { setMaxListeners } from 'node:events';
import { type CompleteLogger, WorldClosedError, WorldUnavailableError } from '@cairn/core/world';
import type { Cluster, Redis } from 'ioredis';
import type { Keys } from './keys.js';
import { runScript, type ScriptName } from './scripts.js';

/** What `capabilities.durability` says, from the server's persistence settings. */
export type Durability = 'fsync' | 'database' | 'memory';

export interface StoreSettings {
  /** `refuse` (default): an eviction policy other than noeviction is WorldUnavailableError; `warn`: a warning to `logger`. */
  evictionPolicy: 'refuse' | 'warn';
  logger: CompleteLogger;
}

const failedFailure = (location: string, world: string, reason: string, cause?: unknown) =>
  new WorldUnavailableError({ world, location, reason, cause });

/**
 * The World's connections and its open/closed state. Every call goes through `client()`,
 * which opens on first use and rejects with WorldClosedError once the World closes.
 */
export class Store {
  closing = false;
  closed = false;
  durability: Durability = 'database';
  private opening: Promise<void> | undefined;
  private opened = false;

  constructor(
    readonly redis: Redis | Cluster,
    readonly keys: Keys,
    readonly name: string,
    readonly location: string,
    private readonly settings: StoreSettings,
    private readonly scriptBodies: () => string[],
  ) {}

  /** Every call but live waits: handlers still draining during close may use the World. */
  assertOpen(): void {
    if (this.closed) throw new WorldClosedError({ world: this.name });
  }

  /** Live waits (watch, stream reads, consume) end as soon as close starts. */
  assertNotClosing(): void {
    if (this.closed || this.closing) throw new WorldClosedError({ world: this.name });
  }

  /**
   * Every live call in flight listens to this signal (one listener each, removed when the
   * call settles), so it has no listener limit: past ten, Node would print a leak warning
   * into the user's logs for what is the design.
   */
  private readonly closingStarted = unlimitedController();

  /** Marks the World closing: live waits stop, and their calls in flight are let go. */
  startClosing(): void {
    this.closing = true;
    this.closingStarted.abort();
  }

  /**
   * A live wait's call, given up with WorldClosedError as soon as close starts: a command
   * the server has not answered when its connection closes may never settle (a cluster
   * client can hold it in its offline queue), and close must not wait on it.
   */
  unlessClosing<Result>(call: Promise<Result>): Promise<Result> {
    if (this.closing) {
      call.catch(() => {});
      return Promise.reject(new WorldClosedError({ world: this.name }));
    }
    const signal = this.closingStarted.signal;
    return new Promise<Result>((resolve, reject) => {
      const onClosing = () => reject(new WorldClosedError({ world: this.name }));
      signal.addEventListener('abort', onClosing, { once: true });
      call.then(resolve, reject).finally(() => signal.removeEventListener('abort', onClosing));
    });
  }

  /** Connects and checks the servers once; a failure is retried by the next call. */
  open(): Promise<void> {
    if (this.closed) return Promise.reject(new WorldClosedError({ world: this.name }));
    if (this.opened) return Promise.resolve();
    this.opening ??= this.connect()
      .then(() => {
        this.opened = true;
      })
      .finally(() => {
        this.opening = undefined;
      });
    return this.opening;
  }

  private async connect(): Promise<void> {
    const redis = this.redis;
    if (redis.status === 'wait' || redis.status === 'end') {
      try {
        await redis.connect();
      } catch (error) {
        throw failedFailure(this.location, this.name, `cannot connect: ${(error as Error).message}`, error);
      }
    }
    let servers: Redis[];
    try {
      await redis.ping();
      servers = 'nodes' in redis && typeof redis.nodes === 'function' ? redis.nodes('master') : [redis as Redis];
    } catch (error) {
      throw failedFailure(this.location, this.name, `not answering: ${(error as Error).message}`, error);
    }
    const durabilities: Durability[] = [];
    for (const server of servers) durabilities.push(await this.checkServer(server));
    this.durability = durabilities.includes('memory')
      ? 'memory'
      : durabilities.includes('database')
        ? 'database'
        : 'fsync';
    // The layout depends on the partition count: every process must use the same one.
    const meta = await redis.set(this.keys.metaKey, String(this.keys.partitions), 'NX', 'GET');
    if (meta !== null && meta !== String(this.keys.partitions)) {
      throw failedFailure(
        this.location,
        this.name,
        `prefix "${this.keys.prefix}" was created with ${meta} partitions, this World was given ${this.keys.partitions}`,
      );
    }
    // Loaded once per server; runScript falls back to EVAL after a NOSCRIPT (a restart, a failover).
    for (const server of servers) for (const body of this.scriptBodies()) await server.script('LOAD', body);
  }

  /** Refuses (or warns about) a memory policy that could evict the World's keys; reads the persistence settings. */
  private async checkServer(server: Redis): Promise<Durability> {
    const where = `${server.options.host}:${server.options.port}`;
    let config: Record<string, string>;
    try {
      const flat = (await server.config('GET', 'maxmemory-policy', 'appendonly', 'appendfsync', 'save')) as string[];
      config = {};
      for (let index = 0; index < flat.length; index += 2) config[flat[index]!] = flat[index + 1]!;
    } catch {
      // CONFIG is disabled on some managed services: their operator vouches for the settings.
      return 'database';
    }
    const policy = config['maxmemory-policy'];
    if (policy !== undefined && policy !== 'noeviction') {
      const reason = `maxmemory-policy is ${policy} on ${where}; it may evict the World's keys. Set it to noeviction`;
      if (this.settings.evictionPolicy === 'refuse') throw failedFailure(where, this.name, reason);
      this.settings.logger.warn(`world-redis: ${reason}`, {
        world: this.name,
        server: where,
        maxmemoryPolicy: policy,
      });
    }
    if (config.appendonly === 'yes') return config.appendfsync === 'always' ? 'fsync' : 'database';
    return config.save ? 'database' : 'memory';
  }

  /**
   * The client, once open. Rejects with WorldClosedError after close. Its commands reject
   * with WorldUnavailableError (retryable, naming the server) when Redis cannot be reached;
   * an error Redis itself answered is passed on as it is.
   */
  async client(): Promise<Redis | Cluster> {
    this.assertOpen();
    await this.open();
    this.assertOpen();
    this.guarded ??= guard(this.redis, (error) =>
      (error as Error)?.name === 'ReplyError' || !(error instanceof Error)
        ? error
        : failedFailure(this.location, this.name, error.message, error),
    );
    return this.guarded;
  }

  private guarded: Redis | Cluster | undefined;

  /** Runs a script in the partition `key` belongs to; see scripts.ts. */
  async script<Reply>(name: ScriptName, key: string, arg: unknown, texts?: readonly string[]): Promise<Reply> {
    const client = await this.client();
    const reply = await runScript(client, name, key, arg, texts);
    return (typeof reply === 'string' ? JSON.parse(reply) : reply) as Reply;
  }
}

/** The client with every promise-returning method's rejection passed through `mapError`. */
function guard<Client extends object>(client: Client, mapError: (error: unknown) => unknown): Client {
  return new Proxy(client, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result = (value as (...args: unknown[]) => unknown).apply(target, args);
        return result instanceof Promise
          ? result.catch((error: unknown) => {
              throw mapError(error);
            })
          : result;
      };
    },
  });
}

function unlimitedController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
