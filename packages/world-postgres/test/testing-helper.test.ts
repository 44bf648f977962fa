import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { describe, expect, it } from 'vitest';

// The built helper, as a script that imports the published package would load it.
const helperUrl = new URL('../dist/testing.js', import.meta.url).href;

/** True while something accepts connections on the port. */
function accepting(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('startPostgres', () => {
  it('takes its server down with the process when the process exits without stop()', async () => {
    // A script that forgets stop(), or a test process that exits early, must not leave a
    // PostgreSQL server running on the machine forever.
    const child = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `const { startPostgres } = await import(${JSON.stringify(helperUrl)});
         const server = await startPostgres();
         console.log(JSON.stringify({ port: server.port }));
         process.exit(0);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code).toBe(0);
    const { port } = JSON.parse(output.trim()) as { port: number };
    const deadline = Date.now() + 15_000;
    while ((await accepting(port)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(await accepting(port), `the server on port ${port} is still accepting connections`).toBe(false);
  }, 60_000);
});
