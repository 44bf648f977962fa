// What a step would log in other storage layouts: writes the rows a sequential step leaves
// (the same shapes a real run stores) into scratch tables laid out several ways, one
// transaction per step, and reads the WAL each layout logged per step, full-page images
// included (each window starts from a checkpoint, as the benchmark's commit brackets do).
// The first layout is world-postgres's own tables as migrated, so its figure checks the
// tool against `wal-breakdown.mjs`; the last is DBOS's step table.
// Usage: node benchmarks/src/wal-layouts.mjs [steps] [runs]
import { migrate } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';
import pg from 'pg';
import { openWalProbe } from './commits.mjs';

const steps = Number(process.argv[2] ?? 50);
const runs = Number(process.argv[3] ?? 5);
const server = await startPostgres();
await migrate({ connectionString: server.connectionString }); // world-postgres's tables, in `cairn`
const client = new pg.Client({ connectionString: server.connectionString });
await client.connect();
const walProbe = await openWalProbe(server.connectionString);

const started = 1796500210080;
const runIdOf = (run) => `01M93W3GBT72ZJSWRBTV${String(run).padStart(6, '0')}`;
const stepIdOf = (index) => `step:counting.echo#${index}`;
const eventIdOf = (seq) => `evt_${String(seq).padStart(12, '0')}`;
// A step's creation and completion events as the engine records them: `thick` also repeats
// what the event row's columns hold (the run, the seq, the id derived from it, the time),
// as world-postgres's bodies do today.
const created = (runId, index, seq, thick) => ({
  eventType: 'step_created',
  correlationId: stepIdOf(index),
  eventData: { stepName: 'counting.echo', input: [index], placement: 'inline' },
  ...(thick && { runId, seq, eventId: eventIdOf(seq), createdAt: started + seq }),
});
const completed = (runId, index, seq, thick) => ({
  eventType: 'step_completed',
  correlationId: stepIdOf(index),
  eventData: { output: index },
  ...(thick && { runId, seq, eventId: eventIdOf(seq), createdAt: started + seq }),
});
// A view's `thick` body also repeats what its row's columns hold: a run's id, workflow,
// status, times and tail, a step's run and id.
const stepView = (runId, index, seq, done, thick) => ({
  ...(thick && { runId, stepId: stepIdOf(index) }),
  stepName: 'counting.echo',
  status: done ? 'completed' : 'running',
  attempt: 0,
  retries: 0,
  createdAt: started + seq,
  updatedAt: started + seq + (done ? 2 : 0),
  input: [index],
  ...(done && { completedAt: started + seq + 2, output: index }),
});
const runView = (runId, lastSeq, thick) => ({
  ...(thick && { runId, workflowName: 'counting.sequential', status: 'running' }),
  input: steps,
  ...(thick && { createdAt: started, updatedAt: started + lastSeq, lastSeq, lastEventId: eventIdOf(lastSeq) }),
  startedAt: started,
});

// Each layout: its tables, what a run's setup writes (not measured), and step `index`'s
// writes once the run's log ends at `tail`: the completion of step `index` and the
// creation of step `index + 1`, in one transaction.
const cairnTables = (schema) => `
  CREATE TABLE ${schema}.runs (LIKE cairn.runs INCLUDING ALL);
  CREATE TABLE ${schema}.events (LIKE cairn.events INCLUDING ALL);
  CREATE TABLE ${schema}.steps (LIKE cairn.steps INCLUDING ALL);`;
const insertRun = (schema, runId, thick) =>
  client.query(
    `INSERT INTO ${schema}.runs (run_id, workflow_name, status, created_at, updated_at, last_seq, body, watcher)
     VALUES ($1, 'counting.sequential', 'running', $2, $2, 1, $3, 'w')`,
    [runId, started, runView(runId, 1, thick)],
  );
const fenceRun = (schema, runId, tail, thick) =>
  client.query(
    `UPDATE ${schema}.runs SET last_seq = $2, updated_at = $3, body = $4 WHERE run_id = $1 AND last_seq = $5`,
    [runId, tail + 2, started + tail + 2, runView(runId, tail + 2, thick), tail],
  );
const insertEvents = (schema, runId, index, tail, thick) =>
  client.query(
    `INSERT INTO ${schema}.events (run_id, seq, created_at, body) VALUES ($1, $2, $3, $4), ($1, $5, $3, $6)`,
    [
      runId,
      tail + 1,
      started + tail + 1,
      completed(runId, index, tail + 1, thick),
      tail + 2,
      created(runId, index + 1, tail + 2, thick),
    ],
  );
const insertStep = (schema, runId, index, seq, thick) =>
  client.query(`INSERT INTO ${schema}.steps (run_id, step_id, created_seq, body) VALUES ($1, $2, $3, $4)`, [
    runId,
    stepIdOf(index),
    seq,
    stepView(runId, index, seq, false, thick),
  ]);

const withViews = (name, { thickEvents, thickViews }) => ({
  name,
  tables: cairnTables,
  async setUp(schema, runId) {
    await insertRun(schema, runId, thickViews);
    await insertStep(schema, runId, 0, 1, thickViews);
  },
  async step(schema, runId, index, tail) {
    await insertEvents(schema, runId, index, tail, thickEvents);
    await client.query(`UPDATE ${schema}.steps SET body = $3 WHERE run_id = $1 AND step_id = $2`, [
      runId,
      stepIdOf(index),
      stepView(runId, index, tail - 1, true, thickViews),
    ]);
    await insertStep(schema, runId, index + 1, tail + 2, thickViews);
    await fenceRun(schema, runId, tail, thickViews);
  },
});
const appendRows = (schema) => `
  CREATE TABLE ${schema}.runs (LIKE cairn.runs INCLUDING ALL);
  CREATE TABLE ${schema}.appends (run_id text, first_seq integer, created_at bigint, body json,
    PRIMARY KEY (run_id, first_seq));`;
const oneRowPerAppend = (name, { fenceByRunRow }) => ({
  name,
  tables: appendRows,
  setUp: (schema, runId) => insertRun(schema, runId, false),
  async step(schema, runId, index, tail) {
    const events = [completed(runId, index, tail + 1, false), created(runId, index + 1, tail + 2, false)];
    await client.query(`INSERT INTO ${schema}.appends VALUES ($1, $2, $3, $4)`, [
      runId,
      tail + 1,
      started + tail + 1,
      JSON.stringify(events),
    ]);
    if (fenceByRunRow) await fenceRun(schema, runId, tail, false);
  },
});

const layouts = [
  withViews("world-postgres's tables and bodies", { thickEvents: true, thickViews: true }),
  withViews('the same, views without what their columns hold', { thickEvents: true, thickViews: false }),
  withViews('the same, events too', { thickEvents: false, thickViews: false }),
  {
    name: 'no step rows: thin event rows and the fenced run row',
    tables: cairnTables,
    setUp: (schema, runId) => insertRun(schema, runId, false),
    async step(schema, runId, index, tail) {
      await insertEvents(schema, runId, index, tail, false);
      await fenceRun(schema, runId, tail, false);
    },
  },
  oneRowPerAppend('no step rows: one row per append and the fenced run row', { fenceByRunRow: true }),
  oneRowPerAppend('no step rows: one row per append, fenced by its key alone', { fenceByRunRow: false }),
  {
    name: "DBOS's step: one row of operation_outputs",
    tables: (schema) => `
      CREATE TABLE ${schema}.workflow_status (workflow_uuid text PRIMARY KEY, status text, name text, output text);
      CREATE TABLE ${schema}.operation_outputs (workflow_uuid text NOT NULL
          REFERENCES ${schema}.workflow_status (workflow_uuid) ON UPDATE CASCADE ON DELETE CASCADE,
        function_id integer NOT NULL, function_name text NOT NULL DEFAULT '', output text, error text,
        child_workflow_id text, started_at_epoch_ms bigint, completed_at_epoch_ms bigint,
        PRIMARY KEY (workflow_uuid, function_id));`,
    setUp: (schema, runId) =>
      client.query(`INSERT INTO ${schema}.workflow_status VALUES ($1, 'PENDING', 'counting.sequential', NULL)`, [
        runId,
      ]),
    step: (schema, runId, index) =>
      client.query(`INSERT INTO ${schema}.operation_outputs VALUES ($1, $2, 'counting.echo', $3, NULL, NULL, $4, $5)`, [
        runId,
        index,
        JSON.stringify(index),
        started + index,
        started + index + 1,
      ]),
  },
];

/** WAL bytes per step while `layout` writes `runs` runs of `steps` steps. */
async function measure(layout, schema) {
  await client.query(`CREATE SCHEMA ${schema}`);
  await client.query(layout.tables(schema));
  for (let run = 0; run < runs; run++) await layout.setUp(schema, runIdOf(run));
  await walProbe.checkpoint();
  const start = await walProbe.position();
  for (let run = 0; run < runs; run++) {
    for (let index = 0; index < steps; index++) {
      await client.query('BEGIN');
      await layout.step(schema, runIdOf(run), index, 1 + 2 * index);
      await client.query('COMMIT');
    }
  }
  return (await walProbe.since(start)).walBytes / (runs * steps);
}

console.log(`WAL bytes per step, ${runs} runs of ${steps} steps each`);
for (const [position, layout] of layouts.entries()) {
  const bytes = await measure(layout, `layout_${position}`);
  console.log(`${bytes.toFixed(0).padStart(6)}  ${layout.name}`);
}
await walProbe.close();
await client.end();
await server.stop();
