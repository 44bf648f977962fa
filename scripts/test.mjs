#!/usr/bin/env node
// The one test command (`npm test`). A fresh machine has only Node and npm, so this
// script provisions everything else itself: a pinned pnpm in .tools/, the workspace
// dependencies, the build, then lint, typecheck and every package's tests.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../..');
const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const pnpmVersion = rootManifest.packageManager.replace(/^pnpm@/, '');
const toolsDir = join(root, '.tools');
const toolsBin = join(toolsDir, 'node_modules', '.bin');

function step(title) {
  console.log(`\n=== ${title} ===`);
}

function run(command, args, extraEnv = {}) {
  const result = spawnSync(command, args, {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, ...extraEnv },
  });
  if (result.status !== 0) {
    console.error(`\n${command} ${args.join(' ')} failed with exit code ${result.status ?? result.signal}`);
    process.exit(result.status ?? 1);
  }
}

function installedPnpmVersion() {
  const manifest = join(toolsDir, 'node_modules', 'pnpm', 'package.json');
  return existsSync(manifest) ? JSON.parse(readFileSync(manifest, 'utf8')).version : undefined;
}

step(`pnpm ${pnpmVersion}`);
if (installedPnpmVersion() !== pnpmVersion) {
  execFileSync('npm', ['install', '--no-save', '--no-package-lock', '--prefix', toolsDir, `pnpm@${pnpmVersion}`], {
    cwd: root,
    stdio: 'inherit',
  });
}
// turbo spawns `pnpm run …` for each package, so pnpm must be on PATH for every child.
process.env.PATH = `${toolsBin}${delimiter}${process.env.PATH}`;
process.env.TURBO_TELEMETRY_DISABLED = '1';
process.env.DO_NOT_TRACK = '1';

step('install');
run('pnpm', ['install', '--frozen-lockfile']);

step('build');
run('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only']);

step('lint');
run('pnpm', ['exec', 'biome', 'check', '.']);

step('typecheck');
run('pnpm', ['exec', 'turbo', 'run', 'typecheck', '--output-logs=errors-only']);

step('test');
// One package at a time: the suites fsync, spawn and kill processes, and two cores are
// shared by all of them, so running them side by side only makes timings noisier.
run('pnpm', ['exec', 'turbo', 'run', 'test', '--concurrency=1']);
