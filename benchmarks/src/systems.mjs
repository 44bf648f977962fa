// The systems in the matrix, and how each one's driver is provisioned. Cairn's driver uses
// the workspace build; every peer is its own npm project under peers/, pinned by its
// lockfile and installed with `npm ci` on first use, so none of them enters the
// workspace's dependency tree or `npm test`.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

/**
 * `comparedWith`: the Cairn World a peer's ratios use, the one on the same kind of storage
 * (PostgreSQL with PostgreSQL; a local log with a local log).
 */
export const systems = [
  { name: 'cairn-local', directory: 'src/cairn', variant: 'local', storage: 'local files (fsync)' },
  { name: 'cairn-postgres', directory: 'src/cairn', variant: 'postgres', storage: 'PostgreSQL', database: true },
  {
    name: 'cairn-redis',
    directory: 'src/cairn',
    variant: 'redis',
    storage: 'Redis (AOF, appendfsync always)',
    redis: true,
  },
  // The same PostgreSQL World, but the worker and client reach it through a world-http
  // server on loopback: what the HTTP hop costs.
  {
    name: 'cairn-http',
    directory: 'src/cairn',
    variant: 'http',
    storage: 'PostgreSQL',
    database: true,
    comparedWith: 'cairn-postgres',
  },
  { name: 'dbos', directory: 'peers/dbos', storage: 'PostgreSQL', database: true, comparedWith: 'cairn-postgres' },
  {
    name: 'vercel-workflow-local',
    directory: 'peers/vercel-workflow',
    variant: 'local',
    storage: 'local files',
    comparedWith: 'cairn-local',
  },
  {
    name: 'vercel-workflow-postgres',
    directory: 'peers/vercel-workflow',
    variant: 'postgres',
    storage: 'PostgreSQL',
    database: true,
    comparedWith: 'cairn-postgres',
  },
  { name: 'restate', directory: 'peers/restate', storage: 'its own log (RocksDB)', comparedWith: 'cairn-local' },
];

export const directoryOf = (system) => join(root, system.directory);

/**
 * Installs a peer's pinned dependencies when its lockfile changed since the last install.
 * Returns a reason when the peer cannot run here, instead of throwing: the report lists it.
 */
export function preparePeer(system, log) {
  const directory = directoryOf(system);
  if (!existsSync(join(directory, 'driver.mjs'))) return `no driver in ${system.directory}`;
  const lockfile = join(directory, 'package-lock.json');
  if (!existsSync(lockfile)) return undefined; // Cairn's own driver: the workspace is installed
  const hash = createHash('sha256').update(readFileSync(lockfile)).digest('hex');
  const stamp = join(directory, 'node_modules', '.cairn-bench-installed');
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === hash) return undefined;
  log(`installing ${system.directory} (npm ci)`);
  try {
    execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: directory,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
  } catch (error) {
    return `npm ci failed in ${system.directory}: ${error.message}`;
  }
  writeFileSync(stamp, hash);
  return undefined;
}
