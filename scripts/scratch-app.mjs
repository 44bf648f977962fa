// A fresh app in a temp directory outside the workspace, with the packed tarballs installed by
// plain `npm install`, as a user would. It typechecks against the published declarations
// (skipLibCheck off, so a type a declaration imports but the package does not bring fails),
// imports and require()s every exported subpath, and runs a workflow to completion.
// The app's sources are in scripts/scratch-app/. Set CAIRN_KEEP_SCRATCH=1 to keep the directory.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { root } from './bootstrap.mjs';

const timeoutMs = 5 * 60_000;
const { CAIRN_KEEP_SCRATCH: keepScratchFlag } = process.env;
const keepScratch = keepScratchFlag === '1';

function exec(command, args, cwd) {
  const result = spawnSync(command, args, { cwd, stdio: 'inherit', timeout: timeoutMs });
  if (result.status !== 0) {
    const why = result.error ? result.error.message : `exit code ${result.status ?? result.signal}`;
    throw new Error(`${command} ${args.join(' ')} failed in ${cwd}: ${why}`);
  }
}

/** The exact versions the workspace pins, so the scratch app installs what the tests use. */
function pinnedVersion(name, manifests) {
  const rootManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  for (const manifest of [rootManifest, ...manifests]) {
    const version = manifest.devDependencies?.[name] ?? manifest.dependencies?.[name];
    if (version && /^\d/.test(version)) return version;
  }
  throw new Error(`no pinned version of ${name} in the workspace`);
}

/** One import and one require() of every exported subpath of every package. */
function entrypointSources(packed) {
  const specifiers = packed.flatMap(({ manifest }) =>
    Object.keys(manifest.exports ?? { '.': null }).map((subpath) =>
      subpath === '.' ? manifest.name : `${manifest.name}/${subpath.replace(/^\.\//, '')}`,
    ),
  );
  const check = (binding, specifier) =>
    `if (Object.keys(${binding}).length === 0) throw new Error('${specifier} exports nothing');`;
  const esm = specifiers.flatMap((specifier, index) => [
    `import * as entry${index} from '${specifier}';`,
    check(`entry${index}`, specifier),
  ]);
  const cjs = specifiers.flatMap((specifier, index) => [
    `import entry${index} = require('${specifier}');`,
    check(`entry${index}`, specifier),
  ]);
  const done = `console.log('scratch app: ${specifiers.length} entry points loaded');`;
  return {
    specifiers,
    esm: `// Generated: every exported subpath, imported.\n${esm.join('\n')}\n${done}\nexport {};\n`,
    cjs: `// Generated: every exported subpath, required.\n${cjs.join('\n')}\n${done.replace('loaded', 'required')}\n`,
  };
}

/** `packed`: [{ tarball, manifest (as packed), sourceManifest }] */
export function runScratchApp(packed) {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-scratch-app-'));
  if (!relative(root, dir).startsWith('..')) throw new Error(`the scratch app must be outside ${root}`);
  try {
    const manifests = packed.map(({ sourceManifest }) => sourceManifest);
    // Peers the packages ask for (vitest, for the conformance suite) and the compiler.
    // Peers that are themselves among the tarballs (the CLI's Worlds) come from those tarballs.
    const packedNames = new Set(packed.map(({ manifest }) => manifest.name));
    const peers = new Set(
      packed
        .flatMap(({ manifest }) => Object.keys(manifest.peerDependencies ?? {}))
        .filter((name) => !packedNames.has(name)),
    );
    const extras = [...peers, 'typescript', '@types/node'].map((name) => `${name}@${pinnedVersion(name, manifests)}`);
    writeFileSync(
      join(dir, 'package.json'),
      `${JSON.stringify({ name: 'cairn-scratch-app', private: true, type: 'module' }, null, 2)}\n`,
    );
    cpSync(join(root, 'scripts', 'scratch-app'), dir, { recursive: true });
    const sources = entrypointSources(packed);
    writeFileSync(join(dir, 'entrypoints.ts'), sources.esm);
    writeFileSync(join(dir, 'entrypoints.cts'), sources.cjs);

    exec(
      'npm',
      [
        'install',
        '--no-audit',
        '--no-fund',
        '--loglevel=error',
        '--prefer-offline',
        ...packed.map(({ tarball }) => tarball),
        ...extras,
      ],
      dir,
    );
    exec(join(dir, 'node_modules', '.bin', 'tsc'), ['-p', '.'], dir);
    for (const program of ['entrypoints.js', 'entrypoints.cjs', 'app.js', 'require.cjs']) {
      exec(process.execPath, [join('dist', program)], dir);
    }
  } finally {
    if (keepScratch) console.log(`scratch app kept in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}
