import type { Logger, World } from '@cairn/core/world';
import type { Command } from 'commander';
import { CliError } from '../cli-error.js';
import { type CommandContext, loggerOf, positiveIntegerOrZero, tokenOf, worldUrlOf } from '../context.js';
import { importWorldPackage, openWorld } from '../world-url.js';

interface WorldHttpModule {
  createWorldServer(options: { world: World; tokens: { token: string; role: 'worker' | 'read' }[]; logger: Logger }): {
    listen(options: { port: number; host: string }): Promise<{ url: string }>;
    close(): Promise<void>;
  };
}

interface ServeOptions {
  port: number;
  host: string;
  readToken?: string[];
}

export function registerServe(program: Command, { output }: CommandContext): void {
  program
    .command('serve')
    .description('serve a World over HTTP for workers and tools that speak world-http, until SIGINT or SIGTERM')
    .option('--port <port>', 'port to listen on (0 picks a free one)', positiveIntegerOrZero('--port'), 4700)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option(
      '--read-token <token>',
      'a token with the read role (repeatable); --token/CAIRN_TOKEN is the worker token',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .action(async (options: ServeOptions, command: Command) => {
      const { createWorldServer } = await importWorldPackage<WorldHttpModule>('@cairn/world-http', 'cairn serve');
      const workerToken = tokenOf(command);
      if (!workerToken)
        throw CliError.usage('cairn serve needs a worker token: pass --token <token> or set CAIRN_TOKEN');
      const logger = loggerOf(command, output);
      const world = await openWorld(worldUrlOf(command), { migrate: true, logger });
      try {
        const server = createWorldServer({
          world,
          logger,
          tokens: [
            { token: workerToken, role: 'worker' },
            ...(options.readToken ?? []).map((token) => ({ token, role: 'read' as const })),
          ],
        });
        const { url } = await server.listen({ port: options.port, host: options.host });
        output.err.write(`serving ${world.name} at ${url}; Ctrl-C stops it\n`);
        await new Promise<void>((resolve) => {
          process.once('SIGINT', () => resolve());
          process.once('SIGTERM', () => resolve());
        });
        await server.close();
      } finally {
        await world.close();
      }
    });
}
