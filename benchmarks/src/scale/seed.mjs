// Writes the seeded history (history.mjs) into a World's schema in bulk: a few thousand
// runs per transaction, each table filled by one INSERT ... SELECT over arrays, the way
// world-postgres itself writes a batch. Appending a million events one at a time through
// the World would take hours; this takes a few minutes and leaves the same rows.
import { migrate } from '@cairn/world-postgres';
import { storedRowsOf } from '@cairn/world-postgres/testing';
import pg from 'pg';
import { rowsOf, seededMessage, seededRun, timelineOf } from './history.mjs';

/** Rows' JSON bodies travel as one JSON array, unpacked with json_array_elements, which keeps each element's text. */
const jsonArray = (values) => JSON.stringify(values);
/** The same, from bodies already written as JSON (`storedRowsOf` gives them so). */
const jsonArrayOfTexts = (texts) => `[${texts.join(',')}]`;

const statements = (schema) => ({
  runs: `INSERT INTO "${schema}".runs
      (run_id, workflow_name, status, created_at, updated_at, last_seq, body, input_seq, outcome_seq)
    SELECT u.run_id, u.workflow_name, u.status, u.created_at, u.updated_at, u.last_seq, b.body,
      u.input_seq, u.outcome_seq
    FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::int[], $8::int[], $9::int[])
      WITH ORDINALITY AS u(run_id, workflow_name, status, created_at, updated_at, last_seq, input_seq, outcome_seq, n)
    JOIN json_array_elements($7::json) WITH ORDINALITY AS b(body, n) USING (n)
    ORDER BY n`,
  events: `INSERT INTO "${schema}".events (run_id, seq, created_at, body)
    SELECT u.run_id, u.seq, u.created_at, b.body
    FROM unnest($1::text[], $2::int[], $3::bigint[]) WITH ORDINALITY AS u(run_id, seq, created_at, n)
    JOIN json_array_elements($4::json) WITH ORDINALITY AS b(body, n) USING (n)`,
  steps: `INSERT INTO "${schema}".steps (run_id, step_id, created_seq, body, input_seq, output_seq, error_seq)
    SELECT u.run_id, u.step_id, u.created_seq, b.body, u.input_seq, u.output_seq, u.error_seq
    FROM unnest($1::text[], $2::text[], $3::int[], $5::int[], $6::int[], $7::int[])
      WITH ORDINALITY AS u(run_id, step_id, created_seq, input_seq, output_seq, error_seq, n)
    JOIN json_array_elements($4::json) WITH ORDINALITY AS b(body, n) USING (n)`,
  waits: `INSERT INTO "${schema}".waits (run_id, wait_id, created_seq, body)
    SELECT u.run_id, u.wait_id, u.created_seq, b.body
    FROM unnest($1::text[], $2::text[], $3::int[]) WITH ORDINALITY AS u(run_id, wait_id, created_seq, n)
    JOIN json_array_elements($4::json) WITH ORDINALITY AS b(body, n) USING (n)`,
  hooks: `INSERT INTO "${schema}".hooks (run_id, hook_id, created_seq, token, active, body, metadata_seq)
    SELECT u.run_id, u.hook_id, u.created_seq, u.token, u.active, b.body, u.metadata_seq
    FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::boolean[], $7::int[])
      WITH ORDINALITY AS u(run_id, hook_id, created_seq, token, active, metadata_seq, n)
    JOIN json_array_elements($6::json) WITH ORDINALITY AS b(body, n) USING (n)`,
  messages: `INSERT INTO "${schema}".queue_messages
      (message_id, topic, payload, group_key, idempotency_key, enqueued_at, deliver_at)
    SELECT u.message_id, u.topic, b.payload, u.group_key, u.idempotency_key, u.enqueued_at, u.deliver_at
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[])
      WITH ORDINALITY AS u(message_id, topic, group_key, idempotency_key, enqueued_at, deliver_at, n)
    JOIN json_array_elements($7::json) WITH ORDINALITY AS b(payload, n) USING (n)
    ORDER BY n`,
});

/**
 * Migrates `schema` (the World's own tables and indexes), then seeds `runs` runs with 10
 * events each on average and `messages` delayed messages. `now` anchors the history: it
 * ends a few minutes before `now`, and every message is due days after it. Ends with
 * VACUUM ANALYZE, as autovacuum would have left a database that grew over weeks: planner
 * statistics and a visibility map. Returns what it wrote and how long it took.
 */
export async function seedHistory({
  connectionString,
  schema = 'cairn',
  runs,
  messages = runs,
  now = Date.now(),
  batchRuns = 2_000,
  log = () => {},
}) {
  await migrate({ connectionString, schema });
  const sql = statements(schema);
  const timeline = timelineOf(runs, now);
  const counts = { runs: 0, events: 0, steps: 0, hooks: 0, waits: 0, messages: 0 };
  const byStatus = {};
  const began = performance.now();
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    for (let first = 0; first < runs; first += batchRuns) {
      const batch = [];
      for (let number = first; number < Math.min(runs, first + batchRuns); number++) {
        batch.push(rowsOf(seededRun(number, timeline)));
      }
      await client.query('BEGIN');
      await writeRuns(client, sql, batch, counts, byStatus);
      await client.query('COMMIT');
      if ((first / batchRuns) % 10 === 9) log(`seeded ${counts.runs} runs, ${counts.events} events`);
    }
    for (let first = 0; first < messages; first += batchRuns * 5) {
      const batch = [];
      for (let index = first; index < Math.min(messages, first + batchRuns * 5); index++) {
        batch.push(seededMessage(index, timeline));
      }
      await client.query(sql.messages, [
        batch.map((message) => message.messageId),
        batch.map((message) => message.topic),
        batch.map((message) => message.groupKey),
        batch.map((message) => message.idempotencyKey),
        batch.map((message) => message.enqueuedAt),
        batch.map((message) => message.deliverAt),
        jsonArray(batch.map((message) => message.payload)),
      ]);
      counts.messages += batch.length;
    }
    const tables = ['runs', 'events', 'steps', 'hooks', 'waits', 'queue_messages'];
    await client.query(`VACUUM (ANALYZE) ${tables.map((table) => `"${schema}".${table}`).join(', ')}`);
  } finally {
    await client.end();
  }
  return { ...counts, byStatus, timeline, seconds: (performance.now() - began) / 1000 };
}

/** Writes a batch of seeded runs, each row in the shape world-postgres stores it (`storedRowsOf`). */
async function writeRuns(client, sql, batch, counts, byStatus) {
  const runs = batch.map((rows) => rows.run);
  const stored = batch.map((rows) =>
    storedRowsOf({
      run: rows.run,
      events: rows.events,
      steps: rows.steps.map((step) => step.body),
      hooks: rows.hooks.map((hook) => hook.body),
    }),
  );
  await client.query(sql.runs, [
    runs.map((run) => run.runId),
    runs.map((run) => run.workflowName),
    runs.map((run) => run.status),
    runs.map((run) => run.createdAt),
    runs.map((run) => run.updatedAt),
    runs.map((run) => run.lastSeq),
    jsonArrayOfTexts(stored.map((rows) => rows.run.body)),
    stored.map((rows) => rows.run.inputSeq),
    stored.map((rows) => rows.run.outcomeSeq),
  ]);
  const events = batch.flatMap((rows) => rows.events);
  await client.query(sql.events, [
    events.map((event) => event.runId),
    events.map((event) => event.seq),
    events.map((event) => event.createdAt),
    jsonArray(events),
  ]);
  const steps = batch.flatMap((rows) => rows.steps);
  const storedSteps = stored.flatMap((rows) => rows.steps);
  if (steps.length > 0) {
    await client.query(sql.steps, [
      steps.map((step) => step.body.runId),
      steps.map((step) => step.id),
      steps.map((step) => step.createdSeq),
      jsonArrayOfTexts(storedSteps.map((row) => row.body)),
      storedSteps.map((row) => row.inputSeq),
      storedSteps.map((row) => row.outputSeq),
      storedSteps.map((row) => row.errorSeq),
    ]);
    counts.steps += steps.length;
  }
  const waits = batch.flatMap((rows) => rows.waits);
  if (waits.length > 0) {
    await client.query(sql.waits, [
      waits.map((wait) => wait.body.runId),
      waits.map((wait) => wait.id),
      waits.map((wait) => wait.createdSeq),
      jsonArray(waits.map((wait) => wait.body)),
    ]);
    counts.waits += waits.length;
  }
  const hooks = batch.flatMap((rows) => rows.hooks);
  const storedHooks = stored.flatMap((rows) => rows.hooks);
  if (hooks.length > 0) {
    await client.query(sql.hooks, [
      hooks.map((hook) => hook.body.runId),
      hooks.map((hook) => hook.id),
      hooks.map((hook) => hook.createdSeq),
      hooks.map((hook) => hook.body.token),
      hooks.map((hook) => hook.body.status === 'active'),
      jsonArrayOfTexts(storedHooks.map((row) => row.body)),
      storedHooks.map((row) => row.metadataSeq),
    ]);
    counts.hooks += hooks.length;
  }
  counts.runs += runs.length;
  counts.events += events.length;
  for (const run of runs) byStatus[run.status] = (byStatus[run.status] ?? 0) + 1;
}
