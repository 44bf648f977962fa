#!/usr/bin/env node
// The one test command (`npm test`). A fresh machine has only Node and npm, so this
// script provisions everything else itself: a pinned pnpm in .tools/, the workspace
// dependencies, the build, then lint, typecheck and every package's tests.
import {
  ensureChromium,
  ensureFaketime,
  ensurePnpm,
  ensurePostgres,
  ensureRedis,
  pnpmVersion,
  run,
  step,
} from './bootstrap.mjs';

step(`pnpm ${pnpmVersion}`);
ensurePnpm();

step('install');
run('pnpm', ['install', '--frozen-lockfile']);

step('build');
run('pnpm', ['exec', 'turbo', 'run', 'build', '--output-logs=errors-only']);

step('lint');
run('pnpm', ['exec', 'biome', 'check', '.']);

step('typecheck');
run('pnpm', ['exec', 'turbo', 'run', 'typecheck', '--output-logs=errors-only']);

step('packages');
// What npm would ship: pack every published package, lint the tarballs, install them into a
// fresh app outside the workspace and run a workflow there.
run('node', ['scripts/check-packages.mjs']);

step('services');
// The tests start their own PostgreSQL on loopback; they only need the server binaries.
ensurePostgres();
// The clock-skew tests and the workflow fuzzer run worker processes under faketime.
ensureFaketime();
// The world-redis tests start their own redis-server and Redis Cluster; they need the binaries.
ensureRedis();
// The dashboard tests drive Debian's Chromium headless.
ensureChromium();

step('test');
// One package at a time: the suites fsync, spawn and kill processes, and two cores are
// shared by all of them, so running them side by side only makes timings noisier.
run('pnpm', ['exec', 'turbo', 'run', 'test', '--concurrency=1']);
