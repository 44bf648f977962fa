#!/usr/bin/env node
// `npm run bench`: from a fresh clone with only Node and npm, provision pnpm, install,
// build Cairn, make sure PostgreSQL's and Redis's server binaries exist, then run the benchmark matrix
// (benchmarks/src/run.mjs). Peers install themselves on first use with `npm ci` from their
// own lockfiles. Quick by default; BENCH_FULL=1 for the full matrix.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensurePnpm, ensurePostgres, ensureRedis, pnpmVersion, root, run, step } from './bootstrap.mjs';

process.env.TURBO_TELEMETRY_DISABLED = '1';

step(`pnpm ${pnpmVersion}`);
ensurePnpm({ quiet: true });
step('install');
run('pnpm', ['install', '--frozen-lockfile'], { quiet: true });
step('build');
run('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@cairn/benchmarks...', '--output-logs=errors-only'], {
  quiet: true,
});
step('services');
ensurePostgres();
// cairn-redis runs on its own redis-server (appendfsync always), started by the runner.
ensureRedis();

step('benchmarks');
const bench = spawnSync(process.execPath, [join(root, 'benchmarks', 'src', 'run.mjs')], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1' },
});
process.exit(bench.status ?? 1);
