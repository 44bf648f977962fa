import { WorldUnavailableError } from '@cairn/core/world';
import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, freshSchema } from './helpers.js';
import { readyForQueryIdle, startTcpHop } from './tcp-hop.js';

/**
 * A TCP hop in front of the real server that, once armed, holds back everything the server
 * says on the next connection until the server closes it, then passes it on in one write.
 * So the client reads the end of its startup (ReadyForQuery) and the server's goodbye (a
 * FATAL error) in the same chunk, as it can when the server shuts down just as a
 * connection finishes starting.
 */
async function startHoldingProxy(target: string) {
  let armed: ((held: { startupDone: Promise<void> }) => void) | undefined;
  const hop = await startTcpHop(target, (client, upstream) => {
    client.on('data', (chunk: Buffer) => upstream.write(chunk));
    client.on('close', () => upstream.destroy());
    const hold = armed;
    armed = undefined;
    if (hold === undefined) {
      upstream.on('data', (chunk: Buffer) => client.write(chunk));
      upstream.on('close', () => client.destroy());
      return;
    }
    let held = Buffer.alloc(0);
    let startupDone!: () => void;
    hold({ startupDone: new Promise<void>((resolve) => (startupDone = resolve)) });
    upstream.on('data', (chunk: Buffer) => {
      held = Buffer.concat([held, chunk]);
      // The server's last word of a finished startup.
      if (held.includes(readyForQueryIdle)) startupDone();
    });
    upstream.on('close', () => client.end(held));
  });
  return {
    connectionString: hop.connectionString,
    /** Holds the next connection; resolves with it once the proxy has it. */
    holdNextConnection: () =>
      new Promise<{ startupDone: Promise<void> }>((resolve) => {
        armed = resolve;
      }),
    close: hop.close,
  };
}

const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

it('a connection the server ends in the same breath as its startup fails the call, not the process', async () => {
  const schema = freshSchema();
  // Migrate directly, so that every connection through the proxy is the World's own.
  const direct = createPostgresWorld({ connectionString, schema });
  await direct.runs.list({});
  await direct.close();

  const proxy = await startHoldingProxy(connectionString);
  cleanups.push(proxy.close);
  const applicationName = `cairn_handover_${schema}`;
  // Idle connections close at once, so the World's next call must open a new one.
  const pool = new pg.Pool({
    connectionString: proxy.connectionString,
    application_name: applicationName,
    idleTimeoutMillis: 1,
  });
  pool.on('error', () => {});
  const connectListeners = pool.listenerCount('connect');
  const world = createPostgresWorld({ pool, schema });
  cleanups.push(async () => {
    await world.close();
    await pool.end();
  });
  await world.runs.list({});
  while (pool.totalCount > 0) await new Promise((resolve) => pool.once('remove', resolve));

  // An error emitted with nobody listening is thrown out of the socket's handler: vitest
  // would report it too, but this says what went wrong.
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown) => uncaught.push(error);
  process.prependListener('uncaughtException', onUncaught);
  cleanups.push(async () => {
    process.off('uncaughtException', onUncaught);
  });

  const holding = proxy.holdNextConnection();
  const call = world.runs.list({}).then(
    () => undefined,
    (error: unknown) => error,
  );
  const held = await holding;
  await held.startupDone;
  const admin = new pg.Client({ connectionString });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ terminated: boolean }>(
      'SELECT pg_terminate_backend(pid) AS terminated FROM pg_stat_activity WHERE application_name = $1',
      [applicationName],
    );
    expect(rows).toEqual([{ terminated: true }]);
  } finally {
    await admin.end();
  }

  const failure = await call;
  expect(uncaught).toEqual([]);
  expect(WorldUnavailableError.is(failure)).toBe(true);

  // The pool is the caller's: closing the World takes back what it added to it.
  await world.close();
  expect(pool.listenerCount('connect')).toBe(connectListeners);
});
