import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import ts from 'typescript';
import type { CodeBlock } from './extract.js';

/** A block as a compiled program: where its source and JavaScript are, and tsc's complaints. */
export interface CompiledBlock {
  block: CodeBlock;
  source: string;
  javascript: string;
  /** A block that registers tests (the conformance suite, a vitest example) runs under vitest. */
  runner: 'node' | 'vitest';
  diagnostics: string[];
}

const require = createRequire(import.meta.url);

/**
 * Writes every block (its prelude first) as a module under `directory` and compiles them all
 * with one TypeScript program, with the workspace's strict settings. The directory must be
 * inside this package, so the blocks resolve `@cairn/*` to the built workspace packages.
 */
export function compileBlocks(
  blocks: readonly CodeBlock[],
  preludes: Readonly<Record<string, string>>,
  directory: string,
): Map<string, CompiledBlock> {
  rmSync(directory, { recursive: true, force: true });
  mkdirSync(directory, { recursive: true });
  const compiled = new Map<string, CompiledBlock>();
  for (const block of blocks) {
    // Test files (the conformance suite, the testing chapter's vitest examples) run under vitest.
    const runner =
      block.code.includes("from '@cairn/world-conformance'") || block.code.includes("from 'vitest'")
        ? 'vitest'
        : 'node';
    const base = `${block.file.replace(/[^\w]+/g, '-')}-${block.line}${runner === 'vitest' ? '.test' : ''}`;
    const prelude = block.prelude === undefined ? '' : `${preludes[block.prelude]}\n`;
    const source = join(directory, `${base}.ts`);
    writeFileSync(source, `${prelude}${block.code}\n`);
    compiled.set(block.id, { block, source, javascript: join(directory, `${base}.js`), runner, diagnostics: [] });
  }
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2023.d.ts'],
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: true,
    types: ['node'],
    outDir: directory,
    rootDir: directory,
  };
  const program = ts.createProgram(
    [...compiled.values()].map(({ source }) => source),
    options,
  );
  program.emit();
  const host = {
    getCanonicalFileName: (name: string) => name,
    getCurrentDirectory: () => directory,
    getNewLine: () => '\n',
  };
  for (const entry of compiled.values()) {
    const file = program.getSourceFile(entry.source);
    const diagnostics = [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)];
    entry.diagnostics = diagnostics.map((diagnostic) => ts.formatDiagnostic(diagnostic, host).trim());
  }
  return compiled;
}

export interface BlockOutcome {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  stdout: string;
  stderr: string;
}

/**
 * Runs a compiled block in a fresh working directory (so `./.cairn` lands in a temp dir),
 * and waits for it to exit on its own: a block that leaves a worker or a World open, and so
 * never exits, is killed at the deadline and reported as timed out.
 */
export async function runBlock(
  entry: CompiledBlock,
  {
    env = {},
    timeoutMs = 60_000,
    signal,
  }: {
    env?: Record<string, string>;
    timeoutMs?: number;
    /** Sent once stdout contains `text`: how a long-running block is asked to stop. */
    signal?: { name: NodeJS.Signals; after: string };
  } = {},
): Promise<BlockOutcome> {
  const cwd = mkdtempSync(join(tmpdir(), 'cairn-doc-block-'));
  const args =
    entry.runner === 'vitest'
      ? [
          join(dirname(require.resolve('vitest/package.json')), 'vitest.mjs'),
          'run',
          entry.javascript,
          '--root',
          dirname(entry.javascript),
          '--config',
          join(dirname(entry.javascript), 'vitest.config.js'),
        ]
      : [entry.javascript];
  if (entry.runner === 'vitest') {
    writeFileSync(
      join(dirname(entry.javascript), 'vitest.config.js'),
      'export default { test: { include: ["**/*.test.js"] } };\n',
    );
  }
  try {
    return await new Promise<BlockOutcome>((resolve, reject) => {
      // The block is a program of its own, not part of this test run: drop vitest's variables.
      const inherited = Object.fromEntries(
        Object.entries(process.env).filter(([name]) => !name.startsWith('VITEST') && name !== 'NODE_OPTIONS'),
      );
      const child = spawn(process.execPath, args, {
        cwd,
        env: { ...inherited, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      let signalled = false;
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (signal && !signalled && stdout.includes(signal.after)) {
          signalled = true;
          child.kill(signal.name);
        }
      });
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, timeoutMs);
      child.on('error', reject);
      child.on('close', (exitCode, signal) => {
        clearTimeout(timer);
        resolve({ exitCode, signal, timedOut, stdout, stderr });
      });
    });
  } finally {
    rmSync(cwd, { recursive: true, force: true });
  }
}
