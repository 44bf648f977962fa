import type { Command } from 'commander';
import { type CommandContext, positiveIntegerOrZero, tokenOf, worldUrlOf } from '../context.js';
import { startDashboard } from '../dashboard/server.js';
import { openWorld, parseWorldUrl } from '../world-url.js';

export function registerDashboard(program: Command, { output }: CommandContext): void {
  program
    .command('dashboard')
    .description('serve a web dashboard for a World until SIGINT or SIGTERM')
    .option('--port <port>', 'port to listen on (0 picks a free one)', positiveIntegerOrZero('--port'), 4800)
    .option('--host <host>', 'address to listen on (the dashboard has no login: keep it on loopback)', '127.0.0.1')
    .action(async (options: { port: number; host: string }, command: Command) => {
      const url = worldUrlOf(command);
      // A world-local directory is usually held by a worker: follow it read-only. To cancel
      // or resume there, serve the dashboard from the worker (`cairn worker --dashboard`).
      const readOnly = parseWorldUrl(url).kind === 'local';
      const token = tokenOf(command);
      const world = await openWorld(url, { readOnly, ...(token ? { token } : {}) });
      try {
        const dashboard = await startDashboard({ world, port: options.port, host: options.host, readOnly });
        output.err.write(
          `dashboard for ${world.name} at ${dashboard.url}${readOnly ? ' (read-only)' : ''}; Ctrl-C stops it\n`,
        );
        // Tests and scripts read the URL from the first line of stdout.
        output.out.write(`${dashboard.url}\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await dashboard.close();
      } finally {
        await world.close();
      }
    });
}
