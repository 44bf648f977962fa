import { afterEach, describe, expect, it } from 'vitest';
import { LeaseLostError } from '../src/runtime/lease.js';
import { failureLevel, persistentFailureAttempt } from '../src/runtime/worker-support.js';
import { SpeculationRefused } from '../src/runtime/write-refusals.js';
import {
  createConsoleLogger,
  FenceConflictError,
  filterLogger,
  InvalidInputError,
  type LogDetails,
  type Logger,
  type LogLevel,
  logLevels,
  resolveLogger,
  WorldCorruptedError,
  WorldUnavailableError,
} from '../src/world/index.js';

/** A logger (and a console) that keeps every line with its level. */
function recording() {
  const lines: { level: LogLevel; message: string; details?: LogDetails }[] = [];
  const target = {} as Required<Logger> & Pick<Console, LogLevel>;
  for (const level of logLevels) {
    target[level] = (message: string, details?: LogDetails) =>
      void lines.push(details === undefined ? { level, message } : { level, message, details });
  }
  return { target, lines };
}

const everyLevel = (logger: Logger) => {
  for (const level of logLevels) logger[level]?.(`a ${level} line`, { level });
};

function thrownBy(action: () => unknown): unknown {
  try {
    action();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

const saved = process.env.CAIRN_LOG_LEVEL;
afterEach(() => {
  if (saved === undefined) delete process.env.CAIRN_LOG_LEVEL;
  else process.env.CAIRN_LOG_LEVEL = saved;
});

describe('Logger levels', () => {
  it('filterLogger keeps the given level and above', () => {
    const { target, lines } = recording();
    everyLevel(filterLogger(target, 'info'));
    expect(lines.map((line) => line.level)).toEqual(['info', 'warn', 'error']);
    lines.length = 0;
    everyLevel(filterLogger(target, 'error'));
    expect(lines.map((line) => line.level)).toEqual(['error']);
  });

  it('createConsoleLogger prints warn and above by default, prefixed, with the details', () => {
    delete process.env.CAIRN_LOG_LEVEL;
    const { target, lines } = recording();
    everyLevel(createConsoleLogger({ console: target }));
    expect(lines).toEqual([
      { level: 'warn', message: '[cairn] a warn line', details: { level: 'warn' } },
      { level: 'error', message: '[cairn] a error line', details: { level: 'error' } },
    ]);
  });

  it('createConsoleLogger takes its default level from CAIRN_LOG_LEVEL, and an explicit level wins', () => {
    process.env.CAIRN_LOG_LEVEL = 'debug';
    const fromEnvironment = recording();
    everyLevel(createConsoleLogger({ console: fromEnvironment.target }));
    expect(fromEnvironment.lines.map((line) => line.level)).toEqual(['debug', 'info', 'warn', 'error']);
    const explicit = recording();
    everyLevel(createConsoleLogger({ console: explicit.target, level: 'error' }));
    expect(explicit.lines.map((line) => line.level)).toEqual(['error']);
  });

  it('a bad level or CAIRN_LOG_LEVEL is InvalidInputError naming the field and the value', () => {
    const badLevel = thrownBy(() => createConsoleLogger({ level: 'loud' as LogLevel }));
    expect(InvalidInputError.is(badLevel)).toBe(true);
    expect(badLevel).toMatchObject({ field: 'level', value: 'loud' });
    expect((badLevel as Error).message).toContain('debug, info, warn, error');

    process.env.CAIRN_LOG_LEVEL = 'WARNING';
    const badEnvironment = thrownBy(() => createConsoleLogger());
    expect(InvalidInputError.is(badEnvironment)).toBe(true);
    expect(badEnvironment).toMatchObject({ field: 'CAIRN_LOG_LEVEL', value: 'WARNING' });
    expect((badEnvironment as Error).message).toContain('CAIRN_LOG_LEVEL');
    // The default logger of a worker or World reads it too, so the mistake surfaces at creation.
    expect(InvalidInputError.is(thrownBy(() => resolveLogger(undefined)))).toBe(true);
  });
});

describe('resolveLogger', () => {
  it('fills the levels a logger lacks with no-ops, and keeps `this` for the ones it has', () => {
    const warned: string[] = [];
    const partial = {
      prefix: 'p:',
      warn(this: { prefix: string }, message: string) {
        warned.push(this.prefix + message);
      },
    };
    const complete = resolveLogger(partial);
    everyLevel(complete);
    expect(warned).toEqual(['p:a warn line']);
  });

  it('false silences every level, and a logger that throws never throws out of Cairn', () => {
    const silent = resolveLogger(false);
    expect(() => everyLevel(silent)).not.toThrow();
    const broken = resolveLogger({
      error: () => {
        throw new Error('disk full');
      },
    });
    expect(() => broken.error('x')).not.toThrow();
  });

  it('refuses what is not a logger, naming the field and the value', () => {
    const notObject = thrownBy(() => resolveLogger('warn' as never, 'options.logger'));
    expect(notObject).toMatchObject({ field: 'options.logger', value: 'warn' });
    const badMethod = thrownBy(() => resolveLogger({ info: 42 } as never));
    expect(InvalidInputError.is(badMethod)).toBe(true);
    expect(badMethod).toMatchObject({ field: 'logger.info', value: 42 });
    expect(InvalidInputError.is(thrownBy(() => resolveLogger({} as never)))).toBe(true);
  });
});

describe('the level of a failed delivery', () => {
  const fence = new FenceConflictError({
    runId: 'r1',
    expectedEventId: 'evt_000000000001',
    currentTail: { eventId: 'evt_000000000002', seq: 2 },
  });
  const outage = new WorldUnavailableError({ world: 'w', location: 'db:5432', reason: 'down' });

  it('self-healing contention is debug, a single outage info, until it persists', () => {
    for (const error of [fence, new SpeculationRefused('refused'), new LeaseLostError('lost')]) {
      expect(failureLevel(error, 1)).toBe('debug');
      expect(failureLevel(error, persistentFailureAttempt - 1)).toBe('debug');
      expect(failureLevel(error, persistentFailureAttempt)).toBe('warn');
    }
    expect(failureLevel(outage, 1)).toBe('info');
    expect(failureLevel(outage, persistentFailureAttempt)).toBe('warn');
  });

  it('anything unexpected is a warning from the first time, and corrupted data an error', () => {
    expect(failureLevel(new TypeError('bug'), 1)).toBe('warn');
    expect(failureLevel(new WorldCorruptedError({ location: 'runs/r1', detail: 'bad row' }), 1)).toBe('error');
  });
});
