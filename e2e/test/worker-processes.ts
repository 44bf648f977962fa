import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { faketimeLibrary } from '@cairn/engine-suite';

export interface WorkerProcesses {
  processes: ChildProcess[];
  /** SIGKILLs one worker: no cleanup, no lease release, exactly like a machine dying. */
  kill(index: number): Promise<void>;
  /** SIGTERMs the rest and waits for them to exit. */
  stopAll(): Promise<void>;
}

const entry = join(import.meta.dirname, '..', 'dist', 'worker-process.js');

/** Starts `count` worker processes on one World and waits until each is consuming. */
export async function spawnWorkers(
  count: number,
  env:
    | { connectionString: string; schema: string; runLease?: boolean; clockOffset?: string }
    /** Workers speak only HTTP to this server, and get no database settings. */
    | { http: { url: string; token: string }; runLease?: boolean; clockOffset?: string }
    | { redis: object; runLease?: boolean; clockOffset?: string },
): Promise<WorkerProcesses> {
  // Real clock skew: Debian's libfaketime, preloaded into node, shifts every clock the process
  // reads, Date.now included. (Its `faketime` wrapper forks and keeps a named semaphore that
  // a killed run can leave behind, so it is not used.)
  const skew: NodeJS.ProcessEnv =
    env.clockOffset === undefined ? {} : { LD_PRELOAD: faketimeLibrary(), FAKETIME: env.clockOffset };
  const processes = Array.from({ length: count }, () =>
    spawn(process.execPath, [entry], {
      env: {
        ...process.env,
        ...skew,
        ...('redis' in env
          ? { CAIRN_E2E_REDIS: JSON.stringify(env.redis) }
          : 'http' in env
            ? { CAIRN_E2E_HTTP_URL: env.http.url, CAIRN_E2E_HTTP_TOKEN: env.http.token }
            : { CAIRN_E2E_CONNECTION: env.connectionString, CAIRN_E2E_SCHEMA: env.schema }),
        CAIRN_E2E_RUN_LEASE: String(env.runLease ?? true),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  await Promise.all(
    processes.map(
      (child) =>
        new Promise<void>((resolve, reject) => {
          let output = '';
          const timer = setTimeout(() => reject(new Error(`worker ${child.pid} not ready: ${output}`)), 30_000);
          child.once('exit', (code) =>
            reject(new Error(`worker ${child.pid} exited with ${code} before it was ready`)),
          );
          child.stdout!.on('data', (chunk: Buffer) => {
            output += chunk.toString();
            if (output.includes('READY')) {
              clearTimeout(timer);
              resolve();
            }
          });
        }),
    ),
  );
  const exited = (child: ChildProcess) =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    processes,
    async kill(index) {
      const child = processes[index]!;
      child.kill('SIGKILL');
      await exited(child);
    },
    async stopAll() {
      for (const child of processes) if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await Promise.all(processes.map(exited));
    },
  };
}
