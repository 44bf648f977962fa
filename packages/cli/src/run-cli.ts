import { CairnError } from '@cairn/core/world';
import { CommanderError } from 'commander';
import { CliError, exitCodes } from './cli-error.js';
import { type Output, processOutput } from './output.js';
import { createProgram } from './program.js';

/**
 * Runs the command line and returns the exit code: 0 on success, 2 for usage errors
 * (unknown command or flag, a bad value, a missing argument), 1 for failures. Errors are
 * one line on stderr; a stack is printed only for errors Cairn did not anticipate.
 */
export async function runCli(argv: readonly string[], output: Output = processOutput): Promise<number> {
  const program = createProgram({ output });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCodes.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end the parse with a "successful" CommanderError.
      if (error.exitCode === 0) return exitCodes.ok;
      return exitCodes.usage;
    }
    if (error instanceof CliError) {
      output.err.write(`error: ${error.message}\n`);
      return error.exitCode;
    }
    if (CairnError.is(error)) {
      output.err.write(`error: ${error.message}\n`);
      return exitCodes.failure;
    }
    output.err.write(`error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return exitCodes.failure;
  }
}
