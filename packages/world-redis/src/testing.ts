import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * Set `between` to crash (or throw) between the two halves of a cross-slot step: after an
 * append, before its outbox relay (`append`); after a relay's insert, before the outbox
 * entry is removed (`relay`); after a hook token is claimed, before the append (`token-claim`).
 */
export { crossSlotProbe } from './outbox-relay.js';

export interface RedisServer {
  /** `redis://127.0.0.1:<port>` */
  url: string;
  port: number;
  /** SIGKILL: no shutdown, no final AOF rewrite; what a crash or power cut looks like to the World. */
  kill(): Promise<void>;
  /** Starts again on the same port and directory, so it loads its AOF. */
  start(): Promise<void>;
  /** Shuts down and removes the directory. */
  stop(): Promise<void>;
}

export interface RedisCluster {
  /** Every master's `redis://127.0.0.1:<port>`. */
  nodes: string[];
  servers: RedisServer[];
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function ping(port: number): Promise<string> {
  const { stdout } = await run('redis-cli', ['-p', String(port), 'PING']);
  return stdout.trim();
}

/** Waits for a condition with no event to await: the server answering PING. */
async function waitUntilAnswering(port: number, server: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`redis-server exited with ${server.exitCode}:\n${log()}`);
    const answer = await ping(port).catch((error: Error) => error.message);
    if (answer === 'PONG') return;
    if (Date.now() > deadline) throw new Error(`redis-server did not answer on ${port}: ${answer}\n${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Test support, exported as `@cairn/world-redis/testing` so the package's tests, e2e and
 * benchmarks share one way to run a real server; not part of the World's API.
 *
 * Starts a throwaway `redis-server` on loopback: a free port, a temp directory, the AOF on
 * with `appendfsync always` (the durability tests kill it and restart it from there), and
 * `noeviction`. `extraArgs` are more `--name value` settings.
 */
export async function startRedis(extraArgs: string[] = []): Promise<RedisServer> {
  const dir = await mkdtemp(join(tmpdir(), 'cairn-redis-'));
  const port = await freePort();
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--save',
    '',
    '--maxmemory-policy',
    'noeviction',
    ...extraArgs,
  ];
  let server!: ChildProcess;
  let exited!: Promise<void>;
  let output = '';
  const start = async () => {
    server = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000);
    };
    server.stdout?.on('data', keep);
    server.stderr?.on('data', keep);
    const current = server;
    exited = new Promise<void>((resolve) => current.once('exit', () => resolve()));
    await waitUntilAnswering(port, server, () => output);
  };
  const halt = async (signal: NodeJS.Signals) => {
    if (server.exitCode === null && server.signalCode === null) {
      server.kill(signal);
      await exited;
    }
  };
  try {
    await start();
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    kill: () => halt('SIGKILL'),
    start,
    stop: async () => {
      await halt('SIGTERM');
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Starts a Redis Cluster of `masters` real servers with no replicas, joined with
 * `redis-cli --cluster create`, and waits for every node to report `cluster_state:ok`.
 */
export async function startRedisCluster(masters = 3): Promise<RedisCluster> {
  const servers: RedisServer[] = [];
  try {
    for (let index = 0; index < masters; index += 1) {
      servers.push(await startRedis(['--cluster-enabled', 'yes', '--cluster-node-timeout', '5000']));
    }
    const addresses = servers.map((server) => `127.0.0.1:${server.port}`);
    await run('redis-cli', ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes']);
    const deadline = Date.now() + 30_000;
    for (const server of servers) {
      for (;;) {
        const { stdout } = await run('redis-cli', ['-p', String(server.port), 'CLUSTER', 'INFO']);
        if (stdout.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`cluster did not reach cluster_state:ok:\n${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  } catch (error) {
    await Promise.all(servers.map((server) => server.stop()));
    throw error;
  }
  return {
    nodes: servers.map((server) => server.url),
    servers,
    stop: async () => {
      await Promise.all(servers.map((server) => server.stop()));
    },
  };
}
