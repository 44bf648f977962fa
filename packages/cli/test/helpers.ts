import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll } from 'vitest';

/** The built bin, run as a user would run it. */
export const cairnBin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
export const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));

export interface CairnResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

const cleanEnvironment = () => {
  const environment = { ...process.env };
  delete environment.CAIRN_WORLD;
  delete environment.CAIRN_TOKEN;
  delete environment.CAIRN_LOG_LEVEL;
  return environment;
};

/** Runs `cairn …` to completion. */
export function runCairn(args: string[], environment: Record<string, string> = {}, timeoutMs = 60_000) {
  return new Promise<CairnResult>((resolve, reject) => {
    const child = spawn(process.execPath, [cairnBin, ...args], {
      env: { ...cleanEnvironment(), ...environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`cairn ${args.join(' ')} did not exit within ${timeoutMs} ms\n${stdout}\n${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `cairn … --json` and parses stdout, failing loudly with stderr when it did not exit 0. */
export async function cairnJson<Value>(args: string[], environment: Record<string, string> = {}): Promise<Value> {
  const result = await runCairn([...args, '--json'], environment);
  if (result.code !== 0) throw new Error(`cairn ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as Value;
}

/** A long-running `cairn …` (a worker, a dashboard, a follow). */
export interface RunningCairn {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once the output matches, or fails after `ms`. */
  waitForOutput(pattern: RegExp, stream?: 'stdout' | 'stderr', ms?: number): Promise<void>;
  /** Sends the signal (if still running) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
  /** Resolves with the exit code once the process exits by itself, or fails after `ms`. */
  exit(ms?: number): Promise<number | null>;
}

const running = new Set<RunningCairn>();
afterAll(async () => {
  await Promise.all([...running].map((process) => process.stop('SIGKILL')));
});

export function startCairn(args: string[], environment: Record<string, string> = {}): RunningCairn {
  const child = spawn(process.execPath, [cairnBin, ...args], {
    env: { ...cleanEnvironment(), ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output = { stdout: '', stderr: '' };
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of [...listeners]) listener();
  };
  child.stdout!.on('data', (chunk) => {
    output.stdout += chunk;
    notify();
  });
  child.stderr!.on('data', (chunk) => {
    output.stderr += chunk;
    notify();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on('close', (code) => {
      notify();
      resolve(code);
    }),
  );
  const handle: RunningCairn = {
    child,
    exited,
    stdout: () => output.stdout,
    stderr: () => output.stderr,
    waitForOutput: (pattern, stream = 'stderr', ms = 30_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(output[stream])) {
            finish();
            resolve();
          } else if (child.exitCode !== null) {
            finish();
            reject(
              new Error(
                `cairn ${args.join(' ')} exited ${child.exitCode} before printing ${pattern}\n${output.stderr}`,
              ),
            );
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(
            new Error(
              `cairn ${args.join(' ')} did not print ${pattern} within ${ms} ms\n${output.stdout}\n${output.stderr}`,
            ),
          );
        }, ms);
        const finish = () => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      }),
    exit: async (ms = 30_000) => {
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(
          () =>
            reject(
              new Error(`cairn ${args.join(' ')} did not exit within ${ms} ms\n${output.stdout}\n${output.stderr}`),
            ),
          ms,
        );
      });
      try {
        return await Promise.race([exited, deadline]);
      } finally {
        clearTimeout(timer);
      }
    },
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          child.kill('SIGKILL');
          reject(
            new Error(
              `cairn ${args.join(' ')} did not exit within 30 s of ${signal}\n${output.stdout}\n${output.stderr}`,
            ),
          );
        }, 30_000);
      });
      try {
        return await Promise.race([exited, deadline]);
      } finally {
        clearTimeout(timer);
        running.delete(handle);
      }
    },
  };
  running.add(handle);
  return handle;
}

/** Polls `condition` until it returns a value other than undefined, or fails after `ms`. */
export async function eventually<Value>(
  condition: () => Promise<Value | undefined>,
  what: string,
  ms = 30_000,
): Promise<Value> {
  const deadline = Date.now() + ms;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${ms} ms waiting for ${what}: ${String(lastError ?? '')}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const directories: string[] = [];
afterAll(async () => {
  await Promise.all(directories.splice(0).map((directory) => rm(directory, { recursive: true, force: true })));
});

/** A fresh directory, removed after the file's tests. */
export async function temporaryDirectory(): Promise<string> {
  const directory = await mkdtemp(join(tmpdir(), 'cairn-cli-'));
  directories.push(directory);
  return directory;
}

/** True when a package resolves from the CLI package, as the bin's dynamic import would. */
export async function isInstalled(packageName: string): Promise<boolean> {
  try {
    await import(packageName);
    return true;
  } catch {
    return false;
  }
}
