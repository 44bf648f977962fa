import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';

const entry = join(import.meta.dirname, '..', 'dist', 'server-process.js');

export interface ServerProcess {
  url: string;
  /** SIGKILLs the server: no close, no hand-back of leases, like a machine dying. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a world-http server in its own process (on `port`, or a free one) and waits until it listens. */
export async function spawnServer(env: {
  connectionString: string;
  schema: string;
  token: string;
  port?: number;
}): Promise<ServerProcess> {
  const child: ChildProcess = spawn(process.execPath, [entry], {
    env: {
      ...process.env,
      CAIRN_E2E_CONNECTION: env.connectionString,
      CAIRN_E2E_SCHEMA: env.schema,
      CAIRN_E2E_HTTP_TOKEN: env.token,
      CAIRN_E2E_HTTP_PORT: String(env.port ?? 0),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => reject(new Error(`server ${child.pid} not ready: ${output}`)), 30_000);
    child.once('exit', (code) => reject(new Error(`server ${child.pid} exited with ${code} before it was ready`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /READY (\S+)/.exec(output);
      if (ready) {
        clearTimeout(timer);
        resolve(ready[1]!);
      }
    });
  });
  const exited = () =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    async kill() {
      child.kill('SIGKILL');
      await exited();
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited();
    },
  };
}
