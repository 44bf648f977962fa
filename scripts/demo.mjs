#!/usr/bin/env node
// `npm run demo`: from a fresh clone with only Node and npm, provision pnpm, install, build
// the examples package and what it depends on, then run the order-pipeline demo. The setup
// is quiet (its output is shown only if it fails) so the demo's own output stands out.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ensurePnpm, pnpmVersion, root, run } from './bootstrap.mjs';

function timed(title, action) {
  const started = Date.now();
  process.stdout.write(`${title} ... `);
  action();
  console.log(`done (${((Date.now() - started) / 1000).toFixed(1)} s)`);
}

timed(`pnpm ${pnpmVersion}`, () => ensurePnpm({ quiet: true }));
timed('pnpm install', () => run('pnpm', ['install', '--frozen-lockfile'], { quiet: true }));
timed('build @cairn/examples and its dependencies (slow the first time)', () =>
  run('pnpm', ['exec', 'turbo', 'run', 'build', '--filter=@cairn/examples...', '--output-logs=errors-only'], {
    quiet: true,
  }),
);
console.log('');

const demo = spawnSync(process.execPath, [join(root, 'examples', 'dist', 'demo.js')], { cwd: root, stdio: 'inherit' });
process.exit(demo.status ?? 1);
