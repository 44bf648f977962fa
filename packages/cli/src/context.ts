import {
  type CompleteLogger,
  filterLogger,
  type LogLevel,
  logLevels,
  type World,
  WorldUnavailableError,
} from '@cairn/core/world';
import type { Command } from 'commander';
import { CliError } from './cli-error.js';
import type { Output } from './output.js';
import { type OpenWorldOptions, openWorld, parseWorldUrl } from './world-url.js';

/** What every command gets: where to write, and the process-wide options. */
export interface CommandContext {
  output: Output;
}

interface GlobalOptions {
  world?: string;
  token?: string;
  logLevel?: LogLevel;
}

/** The World URL from `--world` or `CAIRN_WORLD`; a usage error when neither is set. */
export function worldUrlOf(command: Command): string {
  const { world } = command.optsWithGlobals<GlobalOptions>();
  if (!world) throw CliError.usage('no World given: pass --world <url> or set CAIRN_WORLD (e.g. file:./.cairn)');
  return world;
}

export function tokenOf(command: Command): string | undefined {
  return command.optsWithGlobals<GlobalOptions>().token;
}

/**
 * The logger for what a command runs (a worker, a server, a World): one line on stderr per
 * entry, `level: message {details}`, from `--log-level` or `CAIRN_LOG_LEVEL` up (default warn).
 */
export function loggerOf(command: Command, output: Output): CompleteLogger {
  const lines = Object.fromEntries(
    logLevels.map((level) => [
      level,
      (message: string, details?: Record<string, unknown>) =>
        output.err.write(`${level}: ${message}${details === undefined ? '' : ` ${JSON.stringify(details)}`}\n`),
    ]),
  );
  return filterLogger(lines, command.optsWithGlobals<GlobalOptions>().logLevel ?? 'warn');
}

/** Opens the command's World, runs `body` with it, and always closes it. */
export async function withWorld<Result>(
  command: Command,
  options: Omit<OpenWorldOptions, 'token'>,
  body: (world: World) => Promise<Result>,
): Promise<Result> {
  const url = worldUrlOf(command);
  const token = tokenOf(command);
  const world = await openWorld(url, { ...options, ...(token ? { token } : {}) });
  try {
    return await body(world);
  } catch (error) {
    if (!options.readOnly && WorldUnavailableError.is(error) && parseWorldUrl(url).kind === 'local') {
      // A worker holds the directory. Reads work beside it (read-only); writes must go through it.
      throw new CliError(
        `${error.message}\nWrites to a world-local directory go through the process that holds it: ` +
          'stop the worker, or run it with `cairn worker --dashboard <port>` and act from that dashboard.',
      );
    }
    throw error;
  } finally {
    await world.close();
  }
}

/** Parses a positive whole number flag, or throws a usage error naming the flag and value. */
export function positiveInteger(flag: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 1) throw CliError.usage(`${flag} "${value}" must be a whole number ≥ 1`);
    return parsed;
  };
}

/** Parses `--since`: an ISO time, or a duration back from now (`90s`, `15m`, `2h`, `7d`). */
export function parseSince(value: string, now = Date.now()): number {
  const relative = /^(\d+)(ms|s|m|h|d)$/.exec(value);
  if (relative) {
    const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
      relative[2] as 'ms' | 's' | 'm' | 'h' | 'd'
    ];
    return now - Number(relative[1]) * unit;
  }
  const absolute = Date.parse(value);
  if (Number.isNaN(absolute)) {
    throw CliError.usage(
      `--since "${value}" must be an ISO time (2026-01-31T12:00:00Z) or a duration (90s, 15m, 2h, 7d)`,
    );
  }
  return absolute;
}

/** Parses a port-like flag: a whole number from 0 to 65535. */
export function positiveIntegerOrZero(flag: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65_535) {
      throw CliError.usage(`${flag} "${value}" must be a whole number from 0 to 65535`);
    }
    return parsed;
  };
}

/** Parses a whole number of milliseconds ≥ 0, or throws a usage error naming the flag and value. */
export function nonNegativeInteger(flag: string) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < 0) throw CliError.usage(`${flag} "${value}" must be a whole number ≥ 0`);
    return parsed;
  };
}
