// What `append_batch` itself costs the server, part by part. One warm run of N sequential
// steps on cairn-postgres is captured at the driver (its calls of the function and their
// values), then sent again on one connection, each replay with fresh ids and stamps inside a
// transaction that is rolled back, so no commit and no flush is timed: only the call and its
// body. The same calls go, in alternating rounds, to variants of the function with the same
// arguments, made from its own text: an empty body (what the call and its 60-odd arguments
// cost), and the body without one of its writes. A variant whose part the function no longer
// holds is left out, with a line saying so.
// Reported per replayed run: the wall time (round trips included, the same for every
// variant) and the server process's CPU, both medians over the rounds.
// Usage: node benchmarks/src/append-function-cost.mjs [steps] [rounds] [runsPerRound]
import { createRequire } from 'node:module';
import { createPostgresWorld } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';
import { freshIds, idsIn, offsetToNow, refreshed } from './captured-values.mjs';
import { treeCpuMs } from './cpu.mjs';
import { startSequentialRuns } from './sequential-runs.mjs';
import { median } from './statistics.mjs';

const steps = Number(process.argv[2] ?? 10);
const rounds = Number(process.argv[3] ?? 7);
const runsPerRound = Number(process.argv[4] ?? 300);
// The pg module world-postgres loads, so the capture sees the World's own statements.
const pg = createRequire(import.meta.resolve('@cairn/world-postgres'))('pg');

const appendBatch = /\.append_batch\(/;
const captured = [];
let capturing = false;
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (...args) {
  const text = args[0]?.text ?? args[0];
  if (capturing && typeof text === 'string' && appendBatch.test(text)) {
    captured.push({ text, values: args[0].values ?? args[1] });
  }
  return query.apply(this, args);
};

const server = await startPostgres();
const world = createPostgresWorld({ connectionString: server.connectionString, poolSize: 20 });
const sequential = await startSequentialRuns(world, steps);
for (let i = 0; i < 100; i++) await sequential.run(steps);
capturing = true;
await sequential.run(steps);
capturing = false;
await sequential.stop();
if (captured.length === 0 || captured.some(({ values }) => !Array.isArray(values))) {
  throw new Error('no bound calls of append_batch were captured: the World sends them some other way now');
}

const connection = new pg.Client({ connectionString: server.connectionString });
await connection.connect();
const backendPid = (await connection.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
const { rows } = await connection.query(
  `SELECT pg_get_functiondef(oid) AS definition FROM pg_proc
   WHERE proname = 'append_batch' AND pronamespace = 'cairn'::regnamespace AND pronargs = $1`,
  [captured[0].values.length],
);
const definition = rows[0].definition;
const signatureEnd = definition.indexOf(')\n RETURNS');
const header = (name) =>
  `CREATE OR REPLACE FUNCTION cairn.${name}${definition.slice(definition.indexOf('('), signatureEnd)})`;
const body = definition.slice(signatureEnd + 2);

/** `text` without the first stretch from `from` to the end of `to` after it; undefined if either is missing. */
function without(text, from, to) {
  const start = text.indexOf(from);
  const end = start < 0 ? -1 : text.indexOf(to, start);
  return end < 0 ? undefined : text.slice(0, start) + text.slice(end + to.length);
}
const knownSteps = ['  IF cardinality(p_known_step_ids) > 0 THEN', '    END LOOP;\n  END IF;\n'];
const newSteps = ['  IF cardinality(p_new_step_ids) > 0 THEN', '  END IF;\n'];
const events = ['  INSERT INTO "cairn".events', 'USING (n);\n'];
const variants = {
  'the function': body,
  'an empty body': ` RETURNS boolean[]\n LANGUAGE plpgsql\nAS $function$ BEGIN RETURN NULL; END $function$`,
  'without the step rows': without(without(body, ...knownSteps) ?? '', ...newSteps),
  "without the known step's update": without(body, ...knownSteps),
  'without the events': without(body, ...events),
};

const names = new Map();
for (const [label, variantBody] of Object.entries(variants)) {
  if (variantBody === undefined) {
    console.log(`(${label}: left out, the function no longer holds that part)`);
    continue;
  }
  const name = `cost_variant_${names.size}`;
  await connection.query(`${header(name)}${variantBody}`);
  names.set(label, name);
}

const templates = captured.map(({ values }) => JSON.stringify(values));
const ids = idsIn(templates);

/** The captured calls sent to `name`, with fresh ids and stamps, in one rolled-back transaction. */
async function replay(name) {
  const fresh = freshIds(ids);
  await connection.query('BEGIN');
  for (let index = 0; index < captured.length; index++) {
    // Stamps move to just ahead of now, as the engine proposes them, so the clock check passes.
    const values = refreshed(templates[index], fresh, offsetToNow(captured[index].values[1]));
    await connection.query({
      name,
      text: captured[index].text.replace(appendBatch, `.${name}(`),
      values: JSON.parse(values),
    });
  }
  await connection.query('ROLLBACK');
}

const samples = new Map([...names.keys()].map((label) => [label, { wall: [], cpu: [] }]));
for (const name of names.values()) for (let i = 0; i < 50; i++) await replay(name);
for (let round = 0; round < rounds; round++) {
  // Each round in the other order, so a slow stretch of the machine falls on every variant.
  const order = round % 2 === 0 ? [...names] : [...names].reverse();
  for (const [label, name] of order) {
    const cpuBefore = treeCpuMs(backendPid);
    const started = performance.now();
    for (let i = 0; i < runsPerRound; i++) await replay(name);
    samples.get(label).wall.push((performance.now() - started) / runsPerRound);
    samples.get(label).cpu.push((treeCpuMs(backendPid) - cpuBefore) / runsPerRound);
  }
}

console.log(
  `${captured.length} calls of append_batch per run of ${steps} steps, replayed ${rounds} × ${runsPerRound} times each, rolled back; medians in ms per run`,
);
console.log('   wall  server CPU');
for (const [label, { wall, cpu }] of samples) {
  console.log(`${median(wall).toFixed(3).padStart(7)}  ${median(cpu).toFixed(3).padStart(10)}  ${label}`);
}
await connection.end();
await world.close();
await server.stop();
