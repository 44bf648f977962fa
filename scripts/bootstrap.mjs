// Shared by the root scripts (`npm test`, `npm run demo`). A fresh machine has only Node and
// npm, so everything else is provisioned here: a pinned pnpm in .tools/, put on PATH.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(fileURLToPath(import.meta.url), '../..');
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
export const pnpmVersion = rootManifest.packageManager.replace(/^pnpm@/, '');
const toolsDir = join(root, '.tools');
const toolsBin = join(toolsDir, 'node_modules', '.bin');

export function step(title) {
  console.log(`\n=== ${title} ===`);
}

/**
 * Runs a command in the repo root and exits with its code if it fails. With `quiet`, its
 * output is held back and shown only if it fails.
 */
export function run(command, args, { quiet = false, extraEnv = {} } = {}) {
  const result = spawnSync(command, args, {
    cwd: root,
    stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
    env: { ...process.env, ...extraEnv },
    ...(quiet ? { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 } : {}),
  });
  if (result.status !== 0) {
    if (quiet) {
      process.stdout.write(result.stdout ?? '');
      process.stderr.write(result.stderr ?? '');
    }
    console.error(`\n${command} ${args.join(' ')} failed with exit code ${result.status ?? result.signal}`);
    process.exit(result.status ?? 1);
  }
}

function installedPnpmVersion() {
  const manifest = join(toolsDir, 'node_modules', 'pnpm', 'package.json');
  return existsSync(manifest) ? JSON.parse(readFileSync(manifest, 'utf8')).version : undefined;
}

/** Installs the pinned pnpm into .tools/ unless it is already there, and puts it on PATH. */
export function ensurePnpm({ quiet = false } = {}) {
  if (installedPnpmVersion() !== pnpmVersion) {
    const args = ['install', '--no-save', '--no-package-lock', '--prefix', toolsDir, `pnpm@${pnpmVersion}`];
    if (quiet) run('npm', [...args, '--no-audit', '--no-fund', '--loglevel=error'], { quiet });
    else execFileSync('npm', args, { cwd: root, stdio: 'inherit' });
  }
  // turbo spawns `pnpm run …` for each package, so pnpm must be on PATH for every child.
  process.env.PATH = `${toolsBin}${delimiter}${process.env.PATH}`;
  process.env.TURBO_TELEMETRY_DISABLED = '1';
  process.env.DO_NOT_TRACK = '1';
}

/**
 * The PostgreSQL server binaries the world-postgres and e2e tests start on loopback. A fresh
 * Debian machine has none; install them from Debian's packages (the tests run initdb and
 * postgres themselves, in temp directories, so no system cluster is used).
 */
export function ensurePostgres() {
  const found = ['/usr/lib/postgresql/17/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/15/bin'].some((dir) =>
    existsSync(join(dir, 'initdb')),
  );
  if (found) return;
  if (process.getuid?.() !== 0) {
    console.error('PostgreSQL server binaries are missing; install them with: sudo apt-get install -y postgresql');
    process.exit(1);
  }
  run('apt-get', ['update'], { quiet: true });
  run('apt-get', ['install', '-y', '--no-install-recommends', 'postgresql'], {
    quiet: true,
    extraEnv: { DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/**
 * Debian's faketime, which the clock-skew tests use to run worker processes with a clock
 * that disagrees with the database's. Installed from Debian's packages when missing.
 */
export function ensureFaketime() {
  if (spawnSync('faketime', ['--version'], { stdio: 'ignore' }).status === 0) return;
  if (process.getuid?.() !== 0) {
    console.error('faketime is missing; install it with: sudo apt-get install -y faketime');
    process.exit(1);
  }
  run('apt-get', ['update'], { quiet: true });
  run('apt-get', ['install', '-y', '--no-install-recommends', 'faketime'], {
    quiet: true,
    extraEnv: { DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/**
 * Debian's redis-server and redis-cli: the world-redis and e2e tests start their own servers
 * (one, and a three-master cluster) on loopback in temp directories, so no system service
 * is used. Installed from Debian's packages when missing.
 */
export function ensureRedis() {
  const found = ['redis-server', 'redis-cli'].every(
    (command) => spawnSync(command, ['--version'], { stdio: 'ignore' }).status === 0,
  );
  if (found) return;
  if (process.getuid?.() !== 0) {
    console.error('redis-server is missing; install it with: sudo apt-get install -y redis-server');
    process.exit(1);
  }
  run('apt-get', ['update'], { quiet: true });
  run('apt-get', ['install', '-y', '--no-install-recommends', 'redis-server'], {
    quiet: true,
    extraEnv: { DEBIAN_FRONTEND: 'noninteractive' },
  });
}

/**
 * Debian's Chromium, which the dashboard tests drive headless through playwright-core (no
 * browser download is possible or wanted). Installed from Debian's packages when missing.
 */
export function ensureChromium() {
  if (existsSync('/usr/bin/chromium')) return;
  if (process.getuid?.() !== 0) {
    console.error('Chromium is missing; install it with: sudo apt-get install -y chromium');
    process.exit(1);
  }
  run('apt-get', ['update'], { quiet: true });
  run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], {
    quiet: true,
    extraEnv: { DEBIAN_FRONTEND: 'noninteractive' },
  });
}
