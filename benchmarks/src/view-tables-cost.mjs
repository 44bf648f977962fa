// What the view tables (runs, steps, hooks, waits and streams: everything but the event log
// and the queue) cost a run of N sequential steps on cairn-postgres, in time and in WAL. Two
// Worlds share one server, each in a schema of its own; in the second, those tables are
// made UNLOGGED, so their writes still happen but are never written to the WAL. Blocks of
// runs alternate between the two. This is a measurement only: an unlogged table is emptied
// after a crash, so no deployment may do this.
// Usage: node benchmarks/src/view-tables-cost.mjs [steps] [blocks] [runsPerBlock]
import { createPostgresWorld } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';
import pg from 'pg';
import { openWalProbe } from './commits.mjs';
import { postmasterPid, treeCpuMs } from './cpu.mjs';
import { roundOrder } from './rounds.mjs';
import { startSequentialRuns } from './sequential-runs.mjs';
import { median } from './statistics.mjs';

const steps = Number(process.argv[2] ?? 10);
const blocks = Number(process.argv[3] ?? 6);
const runsPerBlock = Number(process.argv[4] ?? 100);
// Streams and their chunks reference runs, and a logged table cannot reference an unlogged one.
const viewTables = ['stream_chunks', 'streams', 'hooks', 'waits', 'steps', 'runs'];

const server = await startPostgres();
const admin = new pg.Client({ connectionString: server.connectionString });
await admin.connect();
const postmaster = await postmasterPid(admin);
const walProbe = await openWalProbe(server.connectionString);

async function open(schema, unlogged) {
  const world = createPostgresWorld({ connectionString: server.connectionString, schema, poolSize: 20 });
  await world.open();
  if (unlogged) for (const table of viewTables) await admin.query(`ALTER TABLE ${schema}.${table} SET UNLOGGED`);
  const sequential = await startSequentialRuns(world, steps);
  for (let i = 0; i < 200; i++) await sequential.run(steps);
  return { world, sequential, label: unlogged ? 'views unlogged' : 'as shipped' };
}

async function block({ sequential }) {
  // A checkpoint first, so that both sides log full-page images from the same starting point.
  await walProbe.checkpoint();
  const wal = await walProbe.position();
  const database = treeCpuMs(postmaster);
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < runsPerBlock; i++) await sequential.run(steps);
  const ms = (performance.now() - started) / runsPerBlock;
  const used = process.cpuUsage(cpu);
  return {
    ms,
    processCpuMs: (used.user + used.system) / 1000 / runsPerBlock,
    databaseCpuMs: (treeCpuMs(postmaster) - database) / runsPerBlock,
    walBytesPerStep: (await walProbe.since(wal)).walBytes / runsPerBlock / steps,
  };
}

const sides = [await open('cairn_logged', false), await open('cairn_unlogged', true)];
const show = ({ ms, processCpuMs, databaseCpuMs, walBytesPerStep }) =>
  `${ms.toFixed(2)} ms per run, CPU ${processCpuMs.toFixed(2)} + ${databaseCpuMs.toFixed(2)} PostgreSQL, ${walBytesPerStep.toFixed(0)} WAL bytes per step`;
console.log(`runs of ${steps} sequential steps, ${runsPerBlock} per block, blocks alternating`);
const measured = new Map(sides.map((side) => [side, []]));
for (let index = 0; index < blocks; index++) {
  // Every other block starts with the other side, so neither always follows the other.
  for (const side of roundOrder(sides, index + 1)) {
    const result = await block(side);
    measured.get(side).push(result);
    console.log(`  ${side.label.padEnd(15)} ${show(result)}`);
  }
}
console.log('medians of the blocks:');
for (const [side, results] of measured) {
  const middle = (key) => median(results.map((result) => result[key]));
  const keys = ['ms', 'processCpuMs', 'databaseCpuMs', 'walBytesPerStep'];
  console.log(`  ${side.label.padEnd(15)} ${show(Object.fromEntries(keys.map((key) => [key, middle(key)])))}`);
}
for (const { sequential, world } of sides) {
  await sequential.stop();
  await world.close();
}
await walProbe.close();
await admin.end();
await server.stop();
process.exit(0);
