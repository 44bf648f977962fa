import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';

const directories: string[] = [];

/** A fresh directory per call, removed after the test. */
export async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'cairn-local-'));
  directories.push(directory);
  return directory;
}

afterEach(async () => {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
});

/** Resolves with the value once `promise` settles, or fails the test after `ms`. */
export function within<Value>(promise: Promise<Value>, ms: number, what: string): Promise<Value> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs the fixture script with `args` until its output holds a line matching `pattern`,
 * then SIGKILLs it and resolves with that line's words after the first. Rejects if the
 * child exits first (with what it printed to stderr) or no such line comes within 10 s.
 */
export async function runUntilThenKill(
  fixture: string,
  args: string[],
  pattern: RegExp,
  what: string,
): Promise<string[]> {
  const child = spawn(process.execPath, [fixture, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let errors = '';
  child.stderr.on('data', (text: Buffer) => {
    errors += text.toString();
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const line = await within(
      new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (text: Buffer) => {
          output += text.toString();
          const match = pattern.exec(output);
          if (match) resolve(match[0]);
        });
        child.once('exit', (code) => reject(new Error(`the child exited (${code}) before ${what}: ${errors}`)));
      }),
      10_000,
      what,
    );
    return line.trim().split(' ').slice(1);
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}
