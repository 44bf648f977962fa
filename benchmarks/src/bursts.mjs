// Bursts of one-step runs started together on cairn-postgres, one line per burst: its time,
// the appends sent, how many of them the World refused for a stamp already in its past, and
// the CPU of this process and of PostgreSQL per run.
// Usage: node benchmarks/src/bursts.mjs [width] [bursts] [quietMs]
//   width    runs started together (default 500)
//   bursts   bursts measured, back to back (default 5)
//   quietMs  how long to stay idle between the warm-up and the first measured burst
//            (default 0). A few seconds lets the engine's reading of the World's clock go
//            stale, as after any quiet spell in production, and shows what the first
//            burst after it costs.
// Worker concurrency 100 and a pool of 20, as in the matrix's driver; warmed up with 20
// bursts of 50. It wraps the World's appends to count them, so its times are a little
// slower than the matrix's.
import { createClient, createWorker, FenceConflictError, step, workflow } from '@cairn/core';
import { createPostgresWorld } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';
import pg from 'pg';
import { postmasterPid, treeCpuMs } from './cpu.mjs';

const width = Number(process.argv[2] ?? 500);
const bursts = Number(process.argv[3] ?? 5);
const quietMs = Number(process.argv[4] ?? 0);

const echo = step('bursts.echo', async (value) => value);
const oneStep = workflow('bursts.one-step', async () => echo(1));

const server = await startPostgres();
const world = createPostgresWorld({ connectionString: server.connectionString, poolSize: 20 });
await world.open();
const admin = new pg.Client({ connectionString: server.connectionString });
await admin.connect();
const postgresPid = await postmasterPid(admin);
await admin.end();

const counts = { appends: 0, refusedStamps: 0 };
for (const method of ['create', 'createBatch']) {
  const append = world.events[method].bind(world.events);
  world.events[method] = async (...args) => {
    counts.appends += 1;
    try {
      return await append(...args);
    } catch (error) {
      // Every World words a refused stamp this way; a fence lost to another writer does not.
      if (FenceConflictError.is(error) && /in the past/.test(error.message)) counts.refusedStamps += 1;
      throw error;
    }
  };
}

const worker = createWorker({ world, workflows: [oneStep], logger: false, concurrency: 100 });
await worker.start();
const client = createClient({ world });
let started = 0;
const burst = async (runs) => {
  const handles = await Promise.all(
    Array.from({ length: runs }, () => client.start(oneStep, null, { id: `burst-${process.pid}-${++started}` })),
  );
  await Promise.all(handles.map((handle) => handle.result()));
};

for (let index = 0; index < 20; index++) await burst(50);
if (quietMs > 0) await new Promise((resolve) => setTimeout(resolve, quietMs));
for (let index = 0; index < bursts; index++) {
  counts.appends = 0;
  counts.refusedStamps = 0;
  // PostgreSQL runs under this process, so its CPU is taken out of this process's tree.
  const cpuBefore = { tree: treeCpuMs(process.pid), postgres: treeCpuMs(postgresPid) };
  const began = performance.now();
  await burst(width);
  const elapsed = performance.now() - began;
  const postgres = (treeCpuMs(postgresPid) - cpuBefore.postgres) / width;
  const own = (treeCpuMs(process.pid) - cpuBefore.tree) / width - postgres;
  console.log(
    `burst ${index + 1}: ${width} runs in ${elapsed.toFixed(0)} ms, ${counts.appends} appends, ` +
      `${counts.refusedStamps} stamps refused; CPU per run ${own.toFixed(2)} ms here + ${postgres.toFixed(2)} ms PostgreSQL`,
  );
}
await worker.stop();
await world.close();
await server.stop();
