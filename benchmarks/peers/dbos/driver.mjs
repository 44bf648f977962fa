// DBOS (@dbos-inc/dbos-sdk) behind the driver protocol (../../src/driver-kit.mjs): DBOS is
// launched in this process with its system database on the benchmark PostgreSQL, the way a
// DBOS application embeds it. Workflows are registered with DBOS.registerWorkflow and every
// step is a checkpointed DBOS.runStep.
import { readFileSync } from 'node:fs';
import { DBOS } from '@dbos-inc/dbos-sdk';
import { payloadOf, preciseNow, runDriver } from '../../src/driver-kit.mjs';

const version = JSON.parse(
  readFileSync(new URL('./node_modules/@dbos-inc/dbos-sdk/package.json', import.meta.url), 'utf8'),
).version;

const echo = (payload, index) =>
  DBOS.runStep(async () => (payload === '' ? index : payloadOf(payload.length, index)), { name: 'echo' });

const sequential = DBOS.registerWorkflow(
  async (steps, payloadBytes) => {
    let payload = payloadOf(payloadBytes);
    let completed = 0;
    for (let index = 0; index < steps; index++) {
      const result = await echo(payload, index);
      if (payloadBytes > 0) payload = result;
      completed++;
    }
    return completed;
  },
  { name: 'sequential' },
);

const concurrent = DBOS.registerWorkflow(
  async (steps, payloadBytes, mode) => {
    // Started in index order, so DBOS assigns the same step ids on every replay.
    const calls = Array.from({ length: steps }, (_, index) => echo(payloadOf(payloadBytes, index), index));
    if (mode === 'race') {
      await Promise.race(calls);
      await Promise.allSettled(calls); // DBOS expects a workflow's steps to finish before it returns
      return 1;
    }
    return (await Promise.all(calls)).length;
  },
  { name: 'concurrent' },
);

// No map primitive: chunks of maxConcurrency under Promise.all, the deterministic way to
// bound concurrency in a DBOS workflow (steps start in a fixed order).
const fanOut = DBOS.registerWorkflow(
  async (items, maxConcurrency) => {
    let processed = 0;
    for (let start = 0; start < items; start += maxConcurrency) {
      const chunk = Array.from({ length: Math.min(maxConcurrency, items - start) }, (_, offset) =>
        echo('', start + offset),
      );
      processed += (await Promise.all(chunk)).length;
    }
    return processed;
  },
  { name: 'map' },
);

const waitForMessage = DBOS.registerWorkflow(
  async () => {
    await DBOS.setEvent('waiting', true);
    const message = await DBOS.recv('go', 60);
    return message?.value ?? null;
  },
  { name: 'hook' },
);

const stream = DBOS.registerWorkflow(
  async (totalBytes, chunkBytes) => {
    const written = await DBOS.runStep(
      async () => {
        for (let offset = 0; offset < totalBytes; offset += chunkBytes) {
          await DBOS.writeStream('default', payloadOf(Math.min(chunkBytes, totalBytes - offset), offset));
        }
        return totalBytes;
      },
      { name: 'write-chunks' },
    );
    await DBOS.closeStream('default');
    return written;
  },
  { name: 'stream' },
);

const timestamps = DBOS.registerWorkflow(
  async (steps) => {
    const stamps = [];
    for (let index = 0; index < steps; index++)
      stamps.push(await DBOS.runStep(async () => preciseNow(), { name: 'stamp' }));
    return stamps;
  },
  { name: 'timestamps' },
);

let counter = 0;
const nextId = (kind) => `${kind}-${process.pid}-${++counter}`;
const run = async (workflow, kind, ...args) =>
  (await DBOS.startWorkflow(workflow, { workflowID: nextId(kind) })(...args)).getResult();

await runDriver(async ({ databaseUrl }) => {
  DBOS.setConfig({ name: 'cairn-bench', systemDatabaseUrl: databaseUrl, logLevel: 'error' });
  await DBOS.launch();
  return {
    system: 'dbos',
    version,
    operations: {
      sequential: ({ steps, payloadBytes }) => run(sequential, 'sequential', steps, payloadBytes),
      concurrent: ({ steps, payloadBytes, mode }) => run(concurrent, 'concurrent', steps, payloadBytes, mode),
      map: ({ items, maxConcurrency }) => run(fanOut, 'map', items, maxConcurrency),
      many: async ({ workflows, steps }) => {
        const handles = await Promise.all(
          Array.from({ length: workflows }, () =>
            DBOS.startWorkflow(sequential, { workflowID: nextId('many') })(steps, 0),
          ),
        );
        const results = await Promise.all(handles.map((handle) => handle.getResult()));
        return results.filter((completed) => completed === steps).length;
      },
      hookResume: async () => {
        const workflowID = nextId('hook');
        const handle = await DBOS.startWorkflow(waitForMessage, { workflowID })();
        // The workflow sets this event just before it blocks in recv: a real condition, not a pause.
        if ((await DBOS.getEvent(workflowID, 'waiting', 30)) !== true) throw new Error('the workflow never waited');
        const resumed = preciseNow();
        await DBOS.send(workflowID, { value: 1 }, 'go');
        const value = await handle.getResult();
        if (value !== 1) throw new Error(`hook workflow returned ${value}`);
        return { resumeToResultMs: preciseNow() - resumed };
      },
      streamFirstChunk: async () => {
        const started = preciseNow();
        const handle = await DBOS.startWorkflow(stream, { workflowID: nextId('stream-first') })(16, 16);
        const reader = DBOS.readStream(handle.workflowID, 'default');
        const first = await reader.next();
        const firstChunkMs = preciseNow() - started;
        if (first.done) throw new Error('the stream closed without a chunk');
        await reader.return(undefined);
        await handle.getResult();
        return { firstChunkMs };
      },
      streamThroughput: async ({ totalBytes, chunkBytes }) => {
        const handle = await DBOS.startWorkflow(stream, { workflowID: nextId('stream') })(totalBytes, chunkBytes);
        let bytes = 0;
        for await (const chunk of DBOS.readStream(handle.workflowID, 'default')) bytes += chunk.length;
        await handle.getResult();
        return { bytes };
      },
      stepTimestamps: async ({ steps }) => ({ timestamps: await run(timestamps, 'timestamps', steps) }),
    },
    close: () => DBOS.shutdown(),
  };
});
