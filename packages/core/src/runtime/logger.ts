import { InvalidInputError } from '../world/errors/invalid-input-error.js';

/** The levels, least to most severe. */
export const logLevels = ['debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];

/** Structured fields of a log line: ids, counts, an error's name and message. Never a payload or a token. */
export type LogDetails = Record<string, unknown>;

/**
 * Where Cairn (workers, `@cairn/world-http`'s server, `@cairn/world-redis`) reports what an
 * operator may want to know. Pass one as the `logger` option; `false` silences everything.
 * The default is `createConsoleLogger()`: the console, at `warn` (or `CAIRN_LOG_LEVEL`).
 *
 * Every method is optional: a missing one is a no-op, so `{ warn }` or `console` both work,
 * and a logger decides its own filtering (wrap one in `filterLogger` to drop lower levels).
 * Methods are called synchronously; one that throws is ignored, so logging never breaks work.
 *
 * What goes where:
 * - `error`: something is wrong and will not heal by itself: a World reports corrupted data,
 *   a worker failed to stop.
 * - `warn`: a condition a user must act on: a run of a workflow the worker does not have
 *   (once per run), a World misconfiguration (a Redis eviction policy that can drop keys),
 *   a failure that keeps coming back (the same message failing delivery after delivery), a
 *   failure of an unexpected kind, a server fault.
 * - `info`: the lifecycle (a worker started or stopped, with its workflows and concurrency)
 *   and a single World outage a redelivery will retry.
 * - `debug`: self-healing contention: an orchestration pass that lost a fence to another
 *   writer, had its speculative batch refused, or lost its lease. The message is redelivered
 *   and the run carries on; nothing is lost.
 */
export interface Logger {
  debug?(message: string, details?: LogDetails): void;
  info?(message: string, details?: LogDetails): void;
  warn?(message: string, details?: LogDetails): void;
  error?(message: string, details?: LogDetails): void;
}

/** A logger with every level present, as Cairn's components hold it after `resolveLogger`. */
export type CompleteLogger = Required<Logger>;

const rank = (level: LogLevel) => logLevels.indexOf(level);
const noop = () => {};

/** Checks a level, or throws InvalidInputError naming `field` and the value. */
export function parseLogLevel(value: unknown, field: string): LogLevel {
  if (typeof value === 'string' && (logLevels as readonly string[]).includes(value)) return value as LogLevel;
  throw new InvalidInputError({ field, value, reason: `must be one of ${logLevels.join(', ')}` });
}

/** `logger` keeping only `level` and above; the levels below become no-ops. */
export function filterLogger(logger: Logger, level: LogLevel): CompleteLogger {
  const threshold = rank(parseLogLevel(level, 'level'));
  const complete = resolveLogger(logger);
  const filtered = {} as CompleteLogger;
  for (const name of logLevels) filtered[name] = rank(name) >= threshold ? complete[name] : noop;
  return filtered;
}

export interface ConsoleLoggerOptions {
  /**
   * The least severe level printed. Default: the `CAIRN_LOG_LEVEL` environment variable when
   * set, else `warn`. A value that is not a level throws InvalidInputError naming it.
   */
  level?: LogLevel;
  /** Where lines go: the global `console` by default; a host that captures output passes its own. */
  console?: Pick<Console, LogLevel>;
}

/** The level `CAIRN_LOG_LEVEL` names, or undefined when it is unset or empty; a bad value throws. */
export function logLevelFromEnvironment(): LogLevel | undefined {
  const value = process.env.CAIRN_LOG_LEVEL;
  return value === undefined || value === '' ? undefined : parseLogLevel(value, 'CAIRN_LOG_LEVEL');
}

/**
 * Prints to the console as `[cairn] message`, with the details after it, through the
 * console method of the line's level, dropping levels below `options.level`.
 */
export function createConsoleLogger(options: ConsoleLoggerOptions = {}): CompleteLogger {
  const level =
    options.level === undefined ? (logLevelFromEnvironment() ?? 'warn') : parseLogLevel(options.level, 'level');
  const target = options.console ?? console;
  const printer = {} as CompleteLogger;
  for (const name of logLevels) {
    printer[name] = (message, details) =>
      details === undefined ? target[name](`[cairn] ${message}`) : target[name](`[cairn] ${message}`, details);
  }
  return filterLogger(printer, level);
}

/**
 * The `logger` option as a complete logger: `undefined` → the console at its default level;
 * `false` → silence; an object → its methods, the missing ones no-ops. Anything else, or an
 * object with a level that is not a function, or with none of the four, throws
 * InvalidInputError naming `field`.
 */
export function resolveLogger(logger: Logger | false | undefined, field = 'logger'): CompleteLogger {
  if (logger === undefined) return createConsoleLogger();
  const complete = {} as CompleteLogger;
  if (logger === false) {
    for (const name of logLevels) complete[name] = noop;
    return complete;
  }
  const reason = `must be an object with any of the methods ${logLevels.join(', ')} (message, details), or false`;
  if (typeof logger !== 'object' || logger === null) throw new InvalidInputError({ field, value: logger, reason });
  let found = 0;
  for (const name of logLevels) {
    const method = logger[name];
    if (method === undefined) {
      complete[name] = noop;
      continue;
    }
    if (typeof method !== 'function') throw new InvalidInputError({ field: `${field}.${name}`, value: method, reason });
    found += 1;
    // Called through the object, so a logger that relies on `this` (a class, `console`) works.
    complete[name] = (message, details) => {
      try {
        if (details === undefined) method.call(logger, message);
        else method.call(logger, message, details);
      } catch {
        // A broken logger must not turn a logged condition into a failure of the work itself.
      }
    };
  }
  if (found === 0) throw new InvalidInputError({ field, value: logger, reason });
  return complete;
}
