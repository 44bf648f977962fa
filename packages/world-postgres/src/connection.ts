import { InvalidInputError } from '@cairn/core/world';
import { Pool } from 'pg';
import { parse } from 'pg-connection-string';
import { z } from 'zod';

/** A pg Pool by shape, not `instanceof`: the caller's `pg` may be another copy than ours. */
const isPool = (value: unknown): value is Pool =>
  typeof value === 'object' &&
  value !== null &&
  typeof (value as Pool).connect === 'function' &&
  typeof (value as Pool).query === 'function';

/**
 * Schema names are interpolated into SQL (identifiers cannot be bound as parameters), so
 * they are restricted to plain lowercase identifiers. 48 characters leaves room for the
 * `cairn_` prefix of the NOTIFY channel within PostgreSQL's 63-byte identifier limit.
 */
export const schemaNameSchema = z
  .string()
  .regex(/^[a-z_][a-z0-9_]*$/, 'must be a lowercase SQL identifier (a-z, 0-9, _; not starting with a digit)')
  .max(48, 'must be at most 48 characters')
  // PostgreSQL reserves the pg_ prefix for system schemas and refuses to create one.
  .refine((name) => !name.startsWith('pg_'), 'must not start with pg_ (reserved for system schemas)');

export const connectionShape = {
  /** `postgres://user:password@host:port/database`. Give this or `pool`. */
  connectionString: z.string().min(1, 'must not be empty').optional(),
  /** A pool you own: the World uses it and never ends it. Give this or `connectionString`. */
  pool: z.custom<Pool>(isPool, 'must be a pg.Pool').optional(),
  /** Schema holding Cairn's tables; created by the migrations. Default `cairn`. */
  schema: schemaNameSchema.optional(),
  /** Connections in the World's own pool (with `connectionString`). Default 10. */
  poolSize: z.number().int('must be a whole number').min(1).max(1000).optional(),
  /** How long to wait for a connection before `WorldUnavailableError`. Default 10 s. */
  connectTimeoutMs: z.number().int('must be whole milliseconds').min(1).optional(),
};

type ConnectionFields = {
  connectionString?: string | undefined;
  pool?: Pool | undefined;
  poolSize?: number | undefined;
  connectTimeoutMs?: number | undefined;
};

/** Exactly one of `connectionString` and `pool`. */
export function requireOneSource(options: ConnectionFields, context: z.RefinementCtx): void {
  if ((options.connectionString === undefined) === (options.pool === undefined)) {
    context.addIssue({
      code: 'custom',
      path: ['connectionString'],
      message: 'give exactly one of connectionString and pool',
    });
  }
}

const connectionSchemes = ['postgres:', 'postgresql:', 'socket:'];

/** The string with any password replaced, so an error message never carries a secret. */
const redactPassword = (value: string) => value.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@');

/**
 * A connection string must be a `postgres://` or `postgresql://` URL (or `socket:`), or a
 * socket directory starting with `/`. pg accepts anything and reads an unparsable string as
 * a database name on localhost, so a typo would surface only later, as a connection failure
 * that looks retryable. Throws `InvalidInputError` (password redacted) at construction instead.
 */
export function checkConnectionString(options: ConnectionFields): void {
  const value = options.connectionString;
  if (value === undefined || value.startsWith('/')) return;
  let scheme: string | undefined;
  try {
    scheme = new URL(value).protocol;
  } catch {
    scheme = undefined;
  }
  if (scheme !== undefined && connectionSchemes.includes(scheme)) return;
  throw new InvalidInputError({
    field: 'options.connectionString',
    value: redactPassword(value),
    reason:
      scheme === undefined
        ? 'must be a URL such as postgres://user:password@host:5432/database, or a socket directory starting with /'
        : `must use the postgres:// or postgresql:// scheme, not "${scheme}"`,
  });
}

/** Where the pool connects, as `host:port` (or the socket directory), for error messages. */
export function locationOf(options: ConnectionFields): string {
  const poolOptions = (options.pool as { options?: Record<string, unknown> } | undefined)?.options ?? {};
  const connectionString = options.connectionString ?? (poolOptions.connectionString as string | undefined);
  let host = poolOptions.host as string | undefined;
  let port = poolOptions.port as string | number | undefined;
  if (connectionString !== undefined) {
    try {
      const parsed = parse(connectionString);
      host = parsed.host ?? host;
      port = parsed.port ?? port;
    } catch {
      // An unparsable string fails to connect anyway; the message still names the defaults.
    }
  }
  host ??= process.env.PGHOST ?? 'localhost';
  port ??= process.env.PGPORT ?? 5432;
  return host.startsWith('/') ? `${host}/.s.PGSQL.${port}` : `${host}:${port}`;
}

/**
 * The pool to use, whether the World owns it (and so ends it on close), and `release`, which
 * undoes what this did to a pool the caller owns.
 *
 * Every connection the pool opens from now on keeps an 'error' listener for its whole life.
 * pg-pool takes its own listener off a connection as it hands it out, and whoever checked
 * it out can add theirs only after the hand-over: the handing out resolves a promise. A
 * server that ends the connection in the same breath as finishing its startup (while
 * shutting down, say) has its farewell read in the same chunk as that startup, before the
 * promise's continuation runs, and an 'error' nobody hears is an uncaught exception that
 * kills the process. The call that checked the connection out still fails, with the same
 * error, on its first statement.
 */
export function openPool(options: ConnectionFields): { pool: Pool; owned: boolean; release: () => void } {
  const { pool, owned } = options.pool
    ? { pool: options.pool, owned: false }
    : {
        pool: new Pool({
          connectionString: options.connectionString,
          max: options.poolSize ?? 10,
          connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
          idleTimeoutMillis: 30_000,
        }),
        owned: true,
      };
  // An idle connection that the server drops emits 'error' on the pool; unhandled, it
  // would crash the process. The next query reconnects, or fails with WorldUnavailableError.
  if (owned) pool.on('error', ignoreConnectionError);
  const keepListening = (client: { on(event: 'error', listener: () => void): unknown }) =>
    client.on('error', ignoreConnectionError);
  pool.on('connect', keepListening);
  return { pool, owned, release: () => pool.off('connect', keepListening) };
}

/** The connection's failure reaches its caller through the statement it fails. */
const ignoreConnectionError = () => {};
