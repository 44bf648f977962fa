import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

const run = promisify(execFile);

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/<database>` */
  connectionString: string;
  port: number;
  /** Fast shutdown, then the data directory is removed. */
  stop(): Promise<void>;
  /** Fast shutdown and start again on the same port and data: every open connection breaks. */
  restart(): Promise<void>;
}

/** Where Debian/Ubuntu's `postgresql` package puts the server binaries; override with PG_BIN. */
function findBinaries(): string {
  const candidates = [process.env.PG_BIN, '/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin'];
  const found = candidates.find((dir) => dir !== undefined && existsSync(join(dir, 'initdb')));
  if (!found) {
    throw new Error(
      'PostgreSQL server binaries not found in /usr/lib/postgresql/15/bin. Install them with ' +
        '`apt-get install -y postgresql` (or point PG_BIN at a directory holding initdb and postgres).',
    );
  }
  return found;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Waits for a condition with no event to await: the server accepting connections. */
async function waitUntilAccepting(connectionString: string, server: ChildProcess, log: () => string) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (server.exitCode !== null) throw new Error(`postgres exited with ${server.exitCode}:\n${log()}`);
    const client = new pg.Client({ connectionString, connectionTimeoutMillis: 1_000 });
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => {});
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections: ${error}\n${log()}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/**
 * Test support, exported as `@cairn/world-postgres/testing` so the package's tests and the
 * e2e suite share one way to run a real server; not part of the World's API.
 *
 * Starts a throwaway PostgreSQL on loopback: a fresh cluster in a temp directory, trust
 * auth, a free port, fsync on (the World's durability claims are tested against a real
 * one). As root the server runs as the `postgres` user, because initdb refuses root.
 */
/**
 * Servers started here and not yet stopped, by process id, with their directories. Each
 * runs in its own process group (detached), so nothing else ends it: a script that forgets
 * `stop()`, or a test process that exits early, would leave PostgreSQL running on the
 * machine for good, stealing CPU from everything measured after it. They go down with
 * this process instead.
 */
const unstopped = new Map<number, string>();
let stoppedOnExit = false;

function stopOnExit(): void {
  if (stoppedOnExit) return;
  stoppedOnExit = true;
  process.once('exit', () => {
    for (const [pid, directory] of unstopped) {
      try {
        // Immediate shutdown: an exit handler cannot wait, and the data is thrown away.
        process.kill(-pid, 'SIGQUIT');
      } catch {
        // already gone
      }
      try {
        rmSync(directory, { recursive: true, force: true });
      } catch {
        // the server may still be writing its last files: a leftover directory is harmless
      }
    }
  });
}

export async function startPostgres(database = 'cairn_test'): Promise<PostgresServer> {
  stopOnExit();
  const bin = findBinaries();
  const asRoot = process.getuid?.() === 0;
  const dir = await mkdtemp(join(tmpdir(), 'cairn-pg-'));
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'socket');
  await mkdir(socketDir);
  let owner: { uid: number; gid: number } | undefined;
  if (asRoot) {
    const [{ stdout: uid }, { stdout: gid }] = await Promise.all([
      run('id', ['-u', 'postgres']),
      run('id', ['-g', 'postgres']),
    ]);
    owner = { uid: Number(uid), gid: Number(gid) };
    // The postgres user must reach and own the directory; /tmp itself is world-traversable.
    await chown(dir, owner.uid, owner.gid);
    await chown(socketDir, owner.uid, owner.gid);
  }
  await chmod(dir, 0o755);
  const as = (command: string, args: string[]) =>
    asRoot ? { command: 'runuser', args: ['-u', 'postgres', '--', command, ...args] } : { command, args };
  const initdb = as(join(bin, 'initdb'), [
    '-D',
    dataDir,
    '-U',
    'postgres',
    '--auth=trust',
    '--encoding=UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  await run(initdb.command, initdb.args);
  const port = await freePort();
  const postgres = as(join(bin, 'postgres'), [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-k',
    socketDir,
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'fsync=on',
    '-c',
    'max_connections=400',
  ]);
  let server!: ChildProcess;
  let exited!: Promise<void>;
  let output = '';
  const launch = async () => {
    // Its own process group, so a stop reaches postgres behind runuser.
    server = spawn(postgres.command, postgres.args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
    server.stderr?.on('data', (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-8_000);
    });
    const current = server;
    if (current.pid !== undefined) unstopped.set(current.pid, dir);
    exited = new Promise<void>((resolve) =>
      current.once('exit', () => {
        if (current.pid !== undefined) unstopped.delete(current.pid);
        resolve();
      }),
    );
    await waitUntilAccepting(`postgres://postgres@127.0.0.1:${port}/postgres`, server, () => output);
  };
  const halt = async () => {
    if (server.exitCode === null && server.signalCode === null && server.pid !== undefined) {
      try {
        process.kill(-server.pid, 'SIGINT'); // fast shutdown: clients are disconnected
      } catch {
        // already gone
      }
      await exited;
    }
  };
  const stop = async () => {
    await halt();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await launch();
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/postgres` });
    await client.connect();
    await client.query(`CREATE DATABASE ${database}`);
    await client.end();
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    connectionString: `postgres://postgres@127.0.0.1:${port}/${database}`,
    port,
    stop,
    // Same data directory, same port: what an operator's restart (or a failover to the same address) looks like.
    restart: async () => {
      await halt();
      await launch();
    },
  };
}

export { type RunState, type StoredRunRows, storedRowsOf } from './seeded-rows.js';
