// What one more network hop per World call costs a run of N sequential steps, whatever speaks
// over it. Three processes, each a worker and a client on a PostgreSQL database of its own,
// run the same workflow in alternating (ABBA) blocks:
//   postgres  world-postgres in the process, as cairn-postgres runs;
//   http      world-postgres behind a world-http server in the same process, reached through
//             the client World over loopback, as cairn-http runs;
//   hop       world-postgres behind the thinnest server that can be written: newline-separated
//             JSON on one raw TCP socket over loopback, no HTTP, no auth, no checks. The calls a
//             sequential run makes on its way (appends and the result's watch) cross it; the
//             rest, which a warm run does not make, go to the World directly.
// The hop is a floor for any design that puts a network hop between the engine and its
// World: what is left of the http ratio above it is HTTP and world-http's own cost.
// Usage: node benchmarks/src/hop-floor.mjs [steps] [blocks] [runsPerBlock]
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { createHttpWorld, createWorldServer } from '@cairn/world-http';
import { createPostgresWorld } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';
import pg from 'pg';
import { databaseUrl, recreateDatabase } from './databases.mjs';
import { startSequentialRuns } from './sequential-runs.mjs';
import { median } from './statistics.mjs';

const variants = ['postgres', 'http', 'hop'];

if (process.argv[2] === '--variant') await serveVariant(process.argv[3], process.argv[4]);
else await main();

async function main() {
  const steps = Number(process.argv[2] ?? 10);
  const blocks = Number(process.argv[3] ?? 9);
  const runsPerBlock = Number(process.argv[4] ?? 20);
  const server = await startPostgres();
  const children = {};
  try {
    for (const variant of variants) {
      const variantUrl = await freshDatabase(server.connectionString, `hop_floor_${variant}`);
      const child = fork(new URL(import.meta.url), ['--variant', variant, variantUrl], { stdio: 'inherit' });
      children[variant] = child;
      child.send({ warmUp: 30, steps });
      await answerOf(child);
    }
    const times = Object.fromEntries(variants.map((variant) => [variant, []]));
    const blockRatios = { http: [], hop: [] };
    for (let block = 0; block < blocks; block++) {
      const order = block % 2 === 0 ? variants : [...variants].reverse();
      const blockMedians = {};
      for (const variant of order) {
        children[variant].send({ runs: runsPerBlock, steps });
        const { msPerRun } = await answerOf(children[variant]);
        times[variant].push(...msPerRun);
        blockMedians[variant] = median(msPerRun);
      }
      for (const variant of ['http', 'hop']) blockRatios[variant].push(blockMedians[variant] / blockMedians.postgres);
      console.log(
        `block ${block + 1}: ${order.map((variant) => `${variant} ${blockMedians[variant].toFixed(1)} ms`).join(', ')}`,
      );
    }
    console.log(`\n${steps} sequential steps, ${blocks} blocks of ${runsPerBlock} runs each:`);
    for (const variant of variants)
      console.log(`  ${variant.padEnd(9)} median ${median(times[variant]).toFixed(2)} ms`);
    for (const variant of ['http', 'hop']) {
      const ratios = blockRatios[variant];
      console.log(
        `  ${variant} ÷ postgres: ${median(ratios).toFixed(2)}× (median of blocks; ${Math.min(...ratios).toFixed(2)} to ${Math.max(...ratios).toFixed(2)})`,
      );
    }
  } finally {
    for (const child of Object.values(children)) child.kill();
    await server.stop();
  }
}

async function freshDatabase(connectionString, name) {
  const client = new pg.Client({ connectionString });
  await client.connect();
  await recreateDatabase(client, name);
  await client.end();
  return databaseUrl(connectionString, name);
}

function answerOf(child) {
  return new Promise((resolve, reject) => {
    const onMessage = (message) => {
      child.off('exit', onExit);
      if (message.error) reject(new Error(message.error));
      else resolve(message);
    };
    const onExit = (code) => {
      child.off('message', onMessage);
      reject(new Error(`a variant process exited with code ${code}`));
    };
    child.once('message', onMessage);
    child.once('exit', onExit);
  });
}

/** One variant's process: a worker and a client on its World, running blocks on request. */
async function serveVariant(variant, databaseUrl) {
  const backing = createPostgresWorld({ connectionString: databaseUrl, poolSize: 20 });
  await backing.open();
  const world =
    variant === 'postgres' ? backing : variant === 'http' ? await behindHttp(backing) : await behindHop(backing);
  let sequential;
  process.on('message', async ({ warmUp, runs, steps }) => {
    try {
      if (warmUp !== undefined) {
        sequential = await startSequentialRuns(world, steps);
        for (let i = 0; i < warmUp; i++) await sequential.run(steps);
        process.send({ ready: true });
        return;
      }
      const msPerRun = [];
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        await sequential.run(steps);
        msPerRun.push(performance.now() - started);
      }
      process.send({ msPerRun });
    } catch (error) {
      process.send({ error: String(error?.stack ?? error) });
    }
  });
}

async function behindHttp(backing) {
  const token = randomBytes(24).toString('base64url');
  const server = createWorldServer({ world: backing, tokens: [{ token, role: 'worker' }] });
  const { url } = await server.listen({ port: 0, host: '127.0.0.1' });
  return createHttpWorld({ url, token });
}

/** The backing World with its appends and watches sent across a raw loopback socket. */
async function behindHop(backing) {
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    readLines(socket, async ({ id, method, args }) => {
      let answer;
      try {
        answer = { id, result: (await backing.events[method](...args)) ?? null };
      } catch (error) {
        answer = { id, error: String(error?.stack ?? error) };
      }
      socket.write(`${JSON.stringify(answer)}\n`);
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const socket = net.connect(server.address().port, '127.0.0.1');
  socket.setNoDelay(true);
  await once(socket, 'connect');
  const waiting = new Map();
  let nextId = 0;
  readLines(socket, ({ id, result, error }) => {
    const call = waiting.get(id);
    waiting.delete(id);
    if (error === undefined) call.resolve(result ?? undefined);
    else call.reject(new Error(error));
  });
  const call = (method, args) =>
    new Promise((resolve, reject) => {
      const id = ++nextId;
      waiting.set(id, { resolve, reject });
      socket.write(`${JSON.stringify({ id, method, args })}\n`);
    });
  const events = overlay(backing.events, {
    create: (...args) => call('create', args),
    createBatch: (...args) => call('createBatch', args),
    // The signal stays here: a sequential run's watch ends with its run.
    watch: (runId, afterSeq, _signal, options) => call('watch', [runId, afterSeq, undefined, options]),
  });
  return overlay(backing, { events });
}

/** `target` with `replaced` members, every other member read from it (methods bound to it). */
function overlay(target, replaced) {
  return new Proxy(
    {},
    {
      get(_, key) {
        if (Object.hasOwn(replaced, key)) return replaced[key];
        const value = target[key];
        return typeof value === 'function' ? value.bind(target) : value;
      },
    },
  );
}

function readLines(socket, onLine) {
  let buffered = '';
  socket.setEncoding('utf8');
  socket.on('data', (text) => {
    buffered += text;
    for (let newline = buffered.indexOf('\n'); newline >= 0; newline = buffered.indexOf('\n')) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      onLine(JSON.parse(line));
    }
  });
}
