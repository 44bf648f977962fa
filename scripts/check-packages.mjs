#!/usr/bin/env node
// Checks what `npm publish` would ship, from the tarballs themselves: `pnpm pack` every
// published package, check each tarball's files and manifest, run publint (strict) and
// Are the Types Wrong (ESM-only profile) on it, then install the tarballs into a fresh app
// outside the workspace and run a workflow there. Run it after the build; `npm test` does.
//
// A package is published when its packages/*/package.json is not `"private": true`, so a
// new package is checked as soon as it exists.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ensurePnpm, root, run, step } from './bootstrap.mjs';
import { runScratchApp } from './scratch-app.mjs';

const expectedLicense = 'Apache-2.0';

/** Every package under packages/ that is not private, with its manifest. */
export function publishedPackages() {
  const packagesDir = join(root, 'packages');
  return readdirSync(packagesDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(packagesDir, entry.name, 'package.json')))
    .map((entry) => {
      const dir = join(packagesDir, entry.name);
      return { dir, manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) };
    })
    .filter(({ manifest }) => manifest.private !== true);
}

/** Every file an `exports` map points at, and every subpath it exports. */
function exportTargets(exportsField) {
  const files = new Set();
  const collect = (value) => {
    if (typeof value === 'string') files.add(value.replace(/^\.\//, ''));
    else if (value && typeof value === 'object') for (const inner of Object.values(value)) collect(inner);
  };
  collect(exportsField);
  return { files: [...files], subpaths: Object.keys(exportsField ?? {}) };
}

/** What the manifest and the package directory must hold before anything is packed. */
function checkSource({ dir, manifest }, problems) {
  const name = manifest.name ?? relative(root, dir);
  const problem = (message) => problems.push(`${name}: ${message}`);
  if (typeof manifest.description !== 'string' || manifest.description.length < 10) problem('needs a description');
  if (!Array.isArray(manifest.keywords) || manifest.keywords.length === 0) problem('needs keywords');
  if (manifest.license !== expectedLicense) problem(`license must be "${expectedLicense}" (is ${manifest.license})`);
  if (manifest.engines?.node !== '>=20') problem(`engines.node must be ">=20" (is ${manifest.engines?.node})`);
  if (manifest.type !== 'module') problem('must be "type": "module"');
  if (!existsSync(join(dir, 'README.md'))) problem('has no README.md');
  const license = join(dir, 'LICENSE');
  if (!existsSync(license)) problem('has no LICENSE (copy the root LICENSE)');
  else if (readFileSync(license, 'utf8') !== readFileSync(join(root, 'LICENSE'), 'utf8'))
    problem('LICENSE differs from the root LICENSE');
  for (const [subpath, conditions] of Object.entries(manifest.exports ?? {})) {
    // "module-sync" lets require() load the ESM build where Node supports require(esm);
    // "default" serves import everywhere else (and gives old Nodes a clear ERR_REQUIRE_ESM).
    const keys = typeof conditions === 'object' && conditions !== null ? Object.keys(conditions) : [];
    if (keys.join(',') !== 'types,module-sync,default')
      problem(`exports["${subpath}"] must list exactly "types", "module-sync", "default" in that order`);
  }
}

/** What the packed tarball must hold. Returns the packed manifest. */
function checkTarball(tarball, name, problems) {
  const problem = (message) => problems.push(`${name} (packed): ${message}`);
  const entries = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((entry) => entry.replace(/^package\//, ''));
  const packed = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
  for (const required of ['LICENSE', 'README.md', 'package.json']) {
    if (!entries.includes(required)) problem(`lacks ${required}`);
  }
  for (const file of exportTargets(packed.exports).files) {
    if (!entries.includes(file)) problem(`lacks ${file}, which its exports name (was it built?)`);
  }
  const ranges = { ...packed.dependencies, ...packed.peerDependencies, ...packed.optionalDependencies };
  for (const [dependency, range] of Object.entries(ranges)) {
    if (String(range).startsWith('workspace:')) problem(`still depends on ${dependency}@${range}`);
  }
  for (const entry of entries) {
    if (/(^|\/)(test|src)\//.test(entry) || entry.endsWith('.test.js')) problem(`ships ${entry}`);
  }
  return packed;
}

function main() {
  ensurePnpm();
  const packages = publishedPackages();
  const problems = [];
  for (const pkg of packages) checkSource(pkg, problems);
  if (!existsSync(join(root, 'LICENSE'))) problems.push('the repository root has no LICENSE');

  const packDir = mkdtempSync(join(tmpdir(), 'cairn-pack-'));
  try {
    const packed = [];
    for (const pkg of packages) {
      const output = execFileSync('pnpm', ['pack', '--json', '--pack-destination', packDir], {
        cwd: pkg.dir,
        encoding: 'utf8',
      });
      const { filename } = JSON.parse(output);
      const manifest = checkTarball(filename, pkg.manifest.name, problems);
      packed.push({ tarball: filename, manifest, sourceManifest: pkg.manifest });
    }
    if (problems.length > 0) {
      console.error(`\nPackages not ready to publish:\n  ${problems.join('\n  ')}`);
      process.exit(1);
    }
    for (const { tarball, manifest } of packed) {
      step(`publint --strict, attw --profile esm-only: ${manifest.name}`);
      run('pnpm', ['exec', 'publint', 'run', tarball, '--strict']);
      run('pnpm', ['exec', 'attw', tarball, '--profile', 'esm-only', '--format', 'ascii', '--no-emoji']);
    }
    step(`scratch app: ${packed.map(({ manifest }) => manifest.name).join(', ')} from their tarballs`);
    runScratchApp(packed);
  } finally {
    rmSync(packDir, { recursive: true, force: true });
  }
}

main();
