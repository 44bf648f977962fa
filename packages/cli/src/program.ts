import { logLevels } from '@cairn/core/world';
import { Command, Option } from 'commander';
import { registerControl } from './commands/control.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerInspect } from './commands/inspect.js';
import { registerMigrate } from './commands/migrate.js';
import { registerReplay } from './commands/replay.js';
import { registerRuns } from './commands/runs.js';
import { registerServe } from './commands/serve.js';
import { registerStreams } from './commands/streams.js';
import { registerWorker } from './commands/worker.js';
import type { CommandContext } from './context.js';
import { startDashboard } from './dashboard/server.js';

/** The whole `cairn` command tree. Parse errors throw (`exitOverride`) so the bin picks the exit code. */
export function createProgram(context: CommandContext): Command {
  const program = new Command('cairn')
    .description('Operate Cairn durable workflows: inspect runs, act on them, run workers, serve a World')
    .addOption(
      new Option('--world <url>', 'the World: file:./dir, postgres://…, redis://…, http(s)://…').env('CAIRN_WORLD'),
    )
    .addOption(new Option('--token <token>', 'bearer token for an http(s):// World').env('CAIRN_TOKEN'))
    .addOption(
      new Option('--log-level <level>', 'the least severe lines workers, servers and Worlds print on stderr')
        .choices(logLevels)
        .default('warn')
        .env('CAIRN_LOG_LEVEL'),
    )
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (text) => context.output.out.write(text),
      writeErr: (text) => context.output.err.write(text),
    })
    .exitOverride();
  registerRuns(program, context);
  registerInspect(program, context);
  registerStreams(program, context);
  registerControl(program, context);
  registerReplay(program, context);
  registerWorker(program, context, startDashboard);
  registerMigrate(program, context);
  registerServe(program, context);
  registerDashboard(program, context);
  // Subcommands inherit the output settings and the exit override, so every error reaches the bin.
  for (const command of allCommands(program)) {
    command.exitOverride().showHelpAfterError('(run with --help for usage)');
    command.configureOutput({
      writeOut: (text) => context.output.out.write(text),
      writeErr: (text) => context.output.err.write(text),
    });
  }
  return program;
}

function allCommands(command: Command): Command[] {
  return command.commands.flatMap((child) => [child, ...allCommands(child)]);
}
