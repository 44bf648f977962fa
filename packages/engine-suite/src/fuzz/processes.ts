import { type ChildProcess, spawn } from 'node:child_process';
import { appendFileSync, existsSync } from 'node:fs';
import type { ProcessConfig, ProcessReport } from './fuzz-process.js';

const entry = new URL('./fuzz-process.js', import.meta.url).pathname;

/** One live process of a case, and what it printed. */
export interface CaseProcess {
  child: ChildProcess;
  pid: number;
  config: ProcessConfig;
  /** Resolves with the process's final report; undefined if it died without one (a SIGKILL). */
  report: Promise<ProcessReport | undefined>;
  exited: Promise<void>;
  ready: Promise<void>;
  stderr: () => string;
  /** The last `PHASE` line the process printed. */
  phase: () => string;
}

/**
 * `CAIRN_FUZZ_KEEP=1`: a failed case's side directory is kept (its path printed with the
 * failure), together with every process's stderr, so a rare failure can be read afterwards
 * rather than only reproduced. Run with `CAIRN_LOG_LEVEL=debug` for the engine's own account.
 */
export const keepingEvidence = (): boolean => process.env.CAIRN_FUZZ_KEEP === '1';

/** libfaketime offsets look like "+1.5s" or "-0.25s". */
const faketimeOffset = (skewMs: number): string => `${skewMs < 0 ? '-' : '+'}${(Math.abs(skewMs) / 1000).toFixed(3)}s`;

const faketimeLibraries = [
  '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1',
  '/usr/lib/aarch64-linux-gnu/faketime/libfaketimeMT.so.1',
  '/usr/lib/faketime/libfaketimeMT.so.1',
  '/usr/local/lib/faketime/libfaketimeMT.so.1',
];

/**
 * Debian's libfaketime (package `faketime`). It is preloaded into node directly rather than
 * run through the `faketime` command, which forks: a SIGKILL must reach the worker itself.
 */
export function faketimeLibrary(): string {
  const found = faketimeLibraries.find((path) => existsSync(path));
  if (!found)
    throw new Error(
      `clock-skew faults need libfaketime (apt-get install -y faketime); looked in ${faketimeLibraries.join(', ')}`,
    );
  return found;
}

/** Starts a case process, its clock offset by `skewMs` through libfaketime when that is not 0. */
export function spawnCaseProcess(config: ProcessConfig, skewMs: number): CaseProcess {
  const environment: NodeJS.ProcessEnv = { ...process.env, CAIRN_FUZZ_CONFIG: JSON.stringify(config) };
  if (skewMs !== 0) {
    environment.LD_PRELOAD = faketimeLibrary();
    environment.FAKETIME = faketimeOffset(skewMs);
  }
  const child = spawn(process.execPath, [entry], { env: environment, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let output = '';
  let errors = '';
  // 'close', not 'exit': at 'exit' the pipes may still hold the last lines a process wrote
  // (its REPORT among them), which a loaded machine delivers a moment later.
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  const ready = new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('READY')) resolve();
    });
    void exited.then(() =>
      reject(new Error(`fuzz process ${child.pid} exited before it was ready: ${errors.slice(-2000)}`)),
    );
  });
  ready.catch(() => {});
  child.stderr!.on('data', (chunk: Buffer) => {
    errors += chunk.toString();
    if (keepingEvidence()) appendFileSync(`${config.sideDirectory}/stderr-${child.pid}.log`, chunk);
    if (errors.length > 100_000) errors = errors.slice(-50_000);
  });
  const report = exited.then(() => {
    const line = output.split('\n').find((text) => text.startsWith('REPORT '));
    return line === undefined ? undefined : (JSON.parse(line.slice('REPORT '.length)) as ProcessReport);
  });
  const phase = () =>
    output
      .match(/PHASE ([^\n]*)\n/g)
      ?.at(-1)
      ?.slice('PHASE '.length)
      .trim() ?? 'starting';
  return { child, pid: child.pid!, config, report, exited, ready, stderr: () => errors, phase };
}

/** SIGKILL: no cleanup, no lease release, exactly like a machine dying. */
export async function killProcess(caseProcess: CaseProcess): Promise<void> {
  if (caseProcess.child.exitCode === null && caseProcess.child.signalCode === null) caseProcess.child.kill('SIGKILL');
  await caseProcess.exited;
}
