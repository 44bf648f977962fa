import { createWorker } from '@cairn/core';
import type { Command } from 'commander';
import {
  type CommandContext,
  loggerOf,
  positiveInteger,
  positiveIntegerOrZero,
  tokenOf,
  worldUrlOf,
} from '../context.js';
import { loadWorkflows } from '../load-module.js';
import { openWorld } from '../world-url.js';

interface WorkerCommandOptions {
  module: string;
  concurrency: number;
  dashboard?: number;
  host: string;
}

/**
 * Resolves at the first SIGINT or SIGTERM. Signal listeners do not keep Node's event loop
 * alive, and an idle World may hold nothing that does, so a timer holds the process open.
 */
const firstSignal = () =>
  new Promise<NodeJS.Signals>((resolve) => {
    const keepAlive = setInterval(() => {}, 60_000);
    const handler = (signal: NodeJS.Signals) => {
      clearInterval(keepAlive);
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
      resolve(signal);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });

export function registerWorker(
  program: Command,
  { output }: CommandContext,
  startDashboard: typeof import('../dashboard/server.js').startDashboard,
): void {
  program
    .command('worker')
    .description("run a worker for a module's workflows until SIGINT or SIGTERM, then stop gracefully")
    .requiredOption('--module <file>', 'a built module exporting the workflows')
    .option('--concurrency <n>', 'runs orchestrated and steps executed at once', positiveInteger('--concurrency'), 10)
    .option(
      '--dashboard <port>',
      'also serve the dashboard from this process (for world-local, the way to cancel and resume while it runs)',
      positiveIntegerOrZero('--dashboard'),
    )
    .option('--host <host>', 'the dashboard host', '127.0.0.1')
    .action(async (options: WorkerCommandOptions, command: Command) => {
      const workflows = await loadWorkflows(options.module);
      const token = tokenOf(command);
      const logger = loggerOf(command, output);
      // A worker owns its World: world-local takes the directory's lock, PostgreSQL migrates.
      const world = await openWorld(worldUrlOf(command), { migrate: true, logger, ...(token ? { token } : {}) });
      const worker = createWorker({
        world,
        workflows: [...workflows.values()],
        concurrency: options.concurrency,
        logger,
      });
      const stopping = firstSignal();
      try {
        await worker.start();
        output.err.write(
          `worker started on ${world.name} for ${[...workflows.keys()].join(', ')} (concurrency ${options.concurrency}); Ctrl-C stops it\n`,
        );
        const dashboard =
          options.dashboard === undefined
            ? undefined
            : await startDashboard({ world, port: options.dashboard, host: options.host });
        if (dashboard) output.err.write(`dashboard at ${dashboard.url}\n`);
        const signal = await stopping;
        output.err.write(`${signal}: stopping; waiting for running steps to finish\n`);
        await dashboard?.close();
        await worker.stop();
        output.err.write('worker stopped\n');
      } finally {
        await world.close();
      }
    });
}
