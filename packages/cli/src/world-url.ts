import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger, World } from '@cairn/core/world';
import { CliError } from './cli-error.js';

/** What a World URL names: the package that implements it and how to call it. */
export type WorldTarget =
  | { kind: 'local'; packageName: '@cairn/world-local'; directory: string }
  | { kind: 'postgres'; packageName: '@cairn/world-postgres'; connectionString: string; schema?: string }
  | { kind: 'redis'; packageName: '@cairn/world-redis'; url: string }
  | { kind: 'http'; packageName: '@cairn/world-http'; url: string };

export interface OpenWorldOptions {
  /** Bearer token for `http(s)://` Worlds. */
  token?: string;
  /**
   * Never write. For `file:` Worlds this opens the directory without its lock, so a worker
   * can hold it at the same time; other Worlds are shared stores and open normally.
   */
  readOnly?: boolean;
  /** PostgreSQL only: apply pending migrations on first use. Default false (`cairn migrate` does it). */
  migrate?: boolean;
  /** Redis only (the one World that logs): where it reports. Default: the World's own (the console). */
  logger?: Logger;
}

const describeUrl = (url: string) => url.replace(/\/\/([^@/]*)@/, '//***@');

/**
 * Parses `file:./dir`, `file:///abs/dir`, `postgres://…` (a `schema` query parameter picks
 * the schema), `redis://…`/`rediss://…` and `http(s)://…`. Anything else is a usage error.
 */
export function parseWorldUrl(url: string): WorldTarget {
  if (url.startsWith('file:')) {
    const rest = url.slice('file:'.length);
    if (rest.length === 0) throw CliError.usage('--world file: needs a directory, e.g. file:./.cairn');
    const directory = rest.startsWith('//') ? fileURLToPath(url) : resolve(rest);
    return { kind: 'local', packageName: '@cairn/world-local', directory };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw CliError.usage(
      `--world "${describeUrl(url)}" is not a URL; use file:./dir, postgres://…, redis://… or http(s)://…`,
    );
  }
  switch (parsed.protocol) {
    case 'postgres:':
    case 'postgresql:': {
      const schema = parsed.searchParams.get('schema') ?? undefined;
      parsed.searchParams.delete('schema');
      return {
        kind: 'postgres',
        packageName: '@cairn/world-postgres',
        connectionString: parsed.toString(),
        ...(schema ? { schema } : {}),
      };
    }
    case 'redis:':
    case 'rediss:':
      return { kind: 'redis', packageName: '@cairn/world-redis', url };
    case 'http:':
    case 'https:':
      return { kind: 'http', packageName: '@cairn/world-http', url };
    default:
      throw CliError.usage(
        `--world "${describeUrl(url)}" has an unknown scheme "${parsed.protocol}"; use file:, postgres://, redis:// or http(s)://`,
      );
  }
}

/**
 * Imports a World package by name. Packages are optional: only the one a URL names has to
 * be installed, and a missing one is reported by name with the command that installs it.
 */
export async function importWorldPackage<Module>(packageName: string, forWhat: string): Promise<Module> {
  try {
    return (await import(packageName)) as Module;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // Only the package itself being absent is "not installed"; a broken install is reported as it is.
    const missing =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      String((error as Error).message).includes(`'${packageName}'`);
    if (!missing) throw error;
    throw new CliError(
      `${forWhat} needs the package ${packageName}, which is not installed.\n` +
        `Install it next to @cairn/cli: npm install ${packageName}`,
    );
  }
}

type Factory = (options: Record<string, unknown>) => World;

/** Opens the World a URL names. The caller closes it. */
export async function openWorld(url: string, options: OpenWorldOptions = {}): Promise<World> {
  const target = parseWorldUrl(url);
  const forWhat = `The World URL ${describeUrl(url)}`;
  switch (target.kind) {
    case 'local': {
      const { createLocalWorld } = await importWorldPackage<{ createLocalWorld: Factory }>(target.packageName, forWhat);
      return createLocalWorld({ dir: target.directory, ...(options.readOnly ? { readOnly: true } : {}) });
    }
    case 'postgres': {
      const { createPostgresWorld } = await importWorldPackage<{ createPostgresWorld: Factory }>(
        target.packageName,
        forWhat,
      );
      return createPostgresWorld({
        connectionString: target.connectionString,
        migrate: options.migrate ?? false,
        ...(target.schema ? { schema: target.schema } : {}),
      });
    }
    case 'redis': {
      const { createRedisWorld } = await importWorldPackage<{ createRedisWorld: Factory }>(target.packageName, forWhat);
      return createRedisWorld({ url: target.url, ...(options.logger ? { logger: options.logger } : {}) });
    }
    case 'http': {
      const { createHttpWorld } = await importWorldPackage<{ createHttpWorld: Factory }>(target.packageName, forWhat);
      return createHttpWorld({ url: target.url, ...(options.token ? { token: options.token } : {}) });
    }
  }
}

export { describeUrl };
