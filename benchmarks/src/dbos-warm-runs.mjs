// DBOS running the same workflow as `sequential-runs.mjs` (N no-op steps in a row), warm, in
// a process of its own: the peer `storage-floor.mjs` sets beside Cairn's runs and its
// protocol's floor. Started by that script with the DBOS peer's modules; each message
// `{ steps, runs }` runs a block of workflows and answers with the time and the process's
// CPU per run.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../peers/dbos/driver.mjs', import.meta.url));
const { DBOS } = require('@dbos-inc/dbos-sdk');

const echo = (index) => DBOS.runStep(async () => index, { name: 'echo' });
const sequential = DBOS.registerWorkflow(
  async (steps) => {
    for (let index = 0; index < steps; index++) await echo(index);
    return steps;
  },
  { name: 'sequential' },
);

DBOS.setConfig({ name: 'storage-floor', systemDatabaseUrl: process.argv[2], logLevel: 'error' });
await DBOS.launch();
let started = 0;
const run = async (steps) =>
  (await DBOS.startWorkflow(sequential, { workflowID: `floor-${process.pid}-${++started}` })(steps)).getResult();

process.on('message', async ({ steps, runs }) => {
  if (runs === 0) {
    await DBOS.shutdown();
    process.exit(0);
  }
  const cpu = process.cpuUsage();
  const began = performance.now();
  for (let index = 0; index < runs; index++) await run(steps);
  const used = process.cpuUsage(cpu);
  process.send({ ms: (performance.now() - began) / runs, processCpuMs: (used.user + used.system) / 1000 / runs });
});
process.send({ ready: true });
