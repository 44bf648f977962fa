import { createClient } from '@cairn/core';
import type { Command } from 'commander';
import { CliError } from '../cli-error.js';
import { type CommandContext, nonNegativeInteger, withWorld } from '../context.js';
import { formatJson } from '../output.js';

interface ResumeOptions {
  wait: number;
  json?: boolean;
}

/** `cancel` and `resume`: the two writes an operator makes by hand. */
export function registerControl(program: Command, { output }: CommandContext): void {
  program
    .command('cancel')
    .description('cancel a run that has not ended, and its open child runs')
    .argument('<runId>', 'the run')
    .option('--reason <text>', 'recorded as the cancel reason', 'cancelled with the cairn CLI')
    .option('--json', 'print the run as JSON')
    .action(async (runId: string, options: { reason: string; json?: boolean }, command: Command) => {
      const run = await withWorld(command, {}, (world) => createClient({ world }).cancel(runId, options.reason));
      output.out.write(options.json ? formatJson(run) : `run ${run.runId} is ${run.status}\n`);
    });

  program
    .command('resume')
    .description('deliver a JSON payload to the live hook holding a token')
    .argument('<token>', "the hook's token")
    .argument('<json>', 'the payload, as JSON, e.g. {"ok":true}')
    .option(
      '--wait <ms>',
      'wait this long for a run to create a hook with the token (default: fail at once if none holds it)',
      nonNegativeInteger('--wait'),
      0,
    )
    .option('--json', 'print the result as JSON')
    .action(async (token: string, payloadText: string, options: ResumeOptions, command: Command) => {
      let payload: unknown;
      try {
        payload = JSON.parse(payloadText);
      } catch (error) {
        throw CliError.usage(`the payload "${payloadText}" is not JSON: ${(error as Error).message}`);
      }
      const result = await withWorld(command, {}, (world) =>
        createClient({ world }).resumeHook(token, payload, { timeoutMs: options.wait }),
      );
      output.out.write(
        options.json ? formatJson(result) : `delivered to hook ${result.hookId} of run ${result.runId}\n`,
      );
    });
}
