/** Exit codes the `cairn` command uses: 0 success, 1 a failure, 2 a usage error. */
export const exitCodes = { ok: 0, failure: 1, usage: 2 } as const;

/**
 * An error the command reports in one line, without a stack, and exits with `exitCode`.
 * Usage errors (a bad flag value, a missing World URL) exit 2; failures (a run not found,
 * a missing package, a replay divergence) exit 1.
 */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = exitCodes.failure,
  ) {
    super(message);
  }

  static usage(message: string): CliError {
    return new CliError(message, exitCodes.usage);
  }
}
