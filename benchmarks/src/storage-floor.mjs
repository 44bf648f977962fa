// How much of a warm run of N sequential steps on cairn-postgres is the storage protocol
// itself. It captures every statement one warm run sends, then replays them back to back on
// one connection, with fresh ids and stamps moved to the present and no engine at all, in
// blocks alternating with real runs. The replay is what the same writes cost with the
// engine's own work taken away: a floor for this protocol on this machine. A third arm
// replays the same run one layer up: the engine's calls of the World's appends, captured at
// the World's boundary and made again in order (fresh ids, stamps moved likewise), so the
// World's own work (its checks, the draft, building each call, the pool, its notifications)
// is timed without the engine's. When the DBOS peer is installed (benchmarks/peers/dbos),
// DBOS runs the same workflow warm in a process of its own, in blocks between those, so the
// floor can be set against the peer in one run. A fourth arm asks what any event log of this
// shape costs, views or not: the same calls sent to a function that only writes the events
// and moves the run's tail (the log alone), with no step, wait or hook rows, no run body
// beyond the fence's update and no queue work. A fifth replays the statements spaced as the
// real run spaces them: before each statement but a run's first, the process stays busy for
// the median time the real runs spent between a reply and their next statement (the engine's
// and the World's work), to show what that work costs beyond its own length.
// Usage: node benchmarks/src/storage-floor.mjs [steps] [blocks] [runsPerBlock]
import { fork } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { createPostgresWorld } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';
import { freshIds, idsIn, offsetToNow, refreshed } from './captured-values.mjs';
import { postmasterPid, treeCpuMs } from './cpu.mjs';
import { databaseUrl, recreateDatabase } from './databases.mjs';
import { startSequentialRuns } from './sequential-runs.mjs';
import { followReply } from './statement-replies.mjs';
import { median, summarize } from './statistics.mjs';

const steps = Number(process.argv[2] ?? 10);
const blocks = Number(process.argv[3] ?? 4);
const runsPerBlock = Number(process.argv[4] ?? 100);
// The pg module world-postgres loads, so the capture sees the World's own statements.
const pg = createRequire(import.meta.resolve('@cairn/world-postgres'))('pg');

const captured = [];
let capturing = false;
// The real runs' gaps: from a statement's reply to the run's next statement, in ms.
const gaps = [];
let timingGaps = false;
let lastReplyAt;
const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (...args) {
  if (capturing)
    // A text and its values, or a config or query object; a function after the text is
    // the callback, not values.
    captured.push({
      name: args[0].name,
      text: args[0].text ?? args[0],
      values: args[0].values ?? (Array.isArray(args[1]) ? args[1] : undefined),
    });
  if (timingGaps) {
    const sentAt = performance.now();
    if (followReply(args, () => (lastReplyAt = performance.now())) && lastReplyAt !== undefined) {
      gaps.push(sentAt - lastReplyAt);
    }
  }
  return query.apply(this, args);
};

const server = await startPostgres();
const world = createPostgresWorld({ connectionString: server.connectionString, poolSize: 20 });
// The engine's appends, as it calls the World, for the third arm.
const appendCalls = [];
for (const method of ['create', 'createBatch']) {
  const original = world.events[method].bind(world.events);
  world.events[method] = (...args) => {
    // The stamp the engine proposed (the params' createdAt), kept apart so the replay need
    // not parse the call to find it.
    if (capturing) appendCalls.push({ method, template: JSON.stringify(args), proposed: args.at(-1)?.createdAt });
    return original(...args);
  };
}
const sequential = await startSequentialRuns(world, steps);
for (let i = 0; i < 300; i++) await sequential.run(steps);
capturing = true;
await sequential.run(steps);
capturing = false;

const templates = captured.map((statement) => JSON.stringify(statement.values));
const ids = idsIn([...templates, ...appendCalls.map((call) => call.template)]);
const connection = new pg.Client({ connectionString: server.connectionString });
await connection.connect();
const postmaster = await postmasterPid(connection);

// The log alone: the captured calls of `append_batch` sent, with the same values, to a
// function of the same signature that writes what every event log needs (the events, and
// the run's row: created, or its tail fenced and moved) and nothing else.
const appendBatch = /\.append_batch\(/;
const logAloneSignature = await connection.query(
  `SELECT pg_get_function_identity_arguments(oid) AS arguments FROM pg_proc
   WHERE proname = 'append_batch' AND pronamespace = 'cairn'::regnamespace AND pronargs = $1`,
  [captured.find((statement) => appendBatch.test(statement.text)).values.length],
);
await connection.query(`
CREATE OR REPLACE FUNCTION cairn.log_alone(${logAloneSignature.rows[0].arguments}) RETURNS boolean[]
LANGUAGE plpgsql VOLATILE SET plan_cache_mode = force_generic_plan AS $$
BEGIN
  IF p_expected_last_seq IS NOT NULL THEN
    UPDATE cairn.runs SET last_seq = p_last_seq WHERE run_id = p_run_id AND last_seq = p_expected_last_seq;
  ELSE
    INSERT INTO cairn.runs (run_id, workflow_name, status, created_at, updated_at, last_seq, body)
    VALUES (p_run_id, p_workflow_name, p_status, p_run_created_at, p_updated_at, p_last_seq, p_run);
  END IF;
  INSERT INTO cairn.events (run_id, seq, created_at, body)
  SELECT p_run_id, u.seq, u.created_at, b.body
  FROM unnest(p_seqs, p_created_ats) WITH ORDINALITY AS u(seq, created_at, n)
  JOIN json_array_elements(p_events) WITH ORDINALITY AS b(body, n) USING (n);
  RETURN NULL;
END $$`);
const logAloneStatements = captured.map(({ name, text }) =>
  appendBatch.test(text)
    ? { name: name && `${name}_log_alone`, text: text.replace(appendBatch, '.log_alone(') }
    : { name, text },
);

/**
 * The captured statements sent again in order, with fresh ids and stamps; `statements` their
 * texts. With `spacingMs`, the process stays busy that long before every statement but the
 * first, as the engine is between one append's reply and its next.
 */
async function replay(statements = captured, spacingMs = 0) {
  const fresh = freshIds(ids);
  for (let index = 0; index < captured.length; index++) {
    if (index > 0 && spacingMs > 0) {
      const until = performance.now() + spacingMs;
      while (performance.now() < until); // busy, as the engine is, not idle
    }
    // Each statement's stamps move to just ahead of now, as the engine proposes them; the
    // fence and clock checks in the statement pass as they did.
    const values = refreshed(templates[index], fresh, offsetToNow(captured[index].values[1]));
    const { name, text } = statements[index];
    await connection.query({ name, text, values: JSON.parse(values) });
  }
}
const replayLogAlone = () => replay(logAloneStatements);
/** A real run, its gaps timed. */
async function realRun() {
  lastReplyAt = undefined;
  timingGaps = true;
  try {
    await sequential.run(steps);
  } finally {
    timingGaps = false;
  }
}

/**
 * The captured appends made again through the World, in order, with fresh ids and each
 * proposed stamp moved to just ahead of now: the World's whole append path, without the
 * engine deciding, replaying or running steps between the calls.
 */
async function replayThroughWorld() {
  const fresh = freshIds(ids);
  for (const { method, template, proposed } of appendCalls) {
    const args = JSON.parse(refreshed(template, fresh, proposed === undefined ? 0 : offsetToNow(proposed)));
    await world.events[method](...args);
  }
}

async function block(work) {
  const cpu = process.cpuUsage();
  const database = treeCpuMs(postmaster);
  const started = performance.now();
  for (let i = 0; i < runsPerBlock; i++) await work();
  const used = process.cpuUsage(cpu);
  return {
    ms: (performance.now() - started) / runsPerBlock,
    processCpuMs: (used.user + used.system) / 1000 / runsPerBlock,
    databaseCpuMs: (treeCpuMs(postmaster) - database) / runsPerBlock,
  };
}

/** DBOS in a child process on a database of its own, warmed up like the runs above; or undefined. */
async function startDbos() {
  if (!existsSync(new URL('../peers/dbos/node_modules/@dbos-inc/dbos-sdk', import.meta.url))) return undefined;
  await recreateDatabase(connection, 'storage_floor_dbos');
  const url = databaseUrl(server.connectionString, 'storage_floor_dbos');
  const child = fork(new URL('./dbos-warm-runs.mjs', import.meta.url), [url]);
  // One request at a time, so each answer is the next message; listening starts before sending.
  const nextMessage = async () => (await once(child, 'message'))[0];
  const ask = async (runs) => {
    const answer = nextMessage();
    child.send({ steps, runs });
    return answer;
  };
  await nextMessage(); // ready
  await ask(300);
  const block = async () => {
    const database = treeCpuMs(postmaster);
    const answer = await ask(runsPerBlock);
    return { ...answer, databaseCpuMs: (treeCpuMs(postmaster) - database) / runsPerBlock };
  };
  return { block, stop: () => child.send({ runs: 0 }) };
}

const show = ({ ms, processCpuMs, databaseCpuMs }) =>
  `${ms.toFixed(2)} ms (CPU: process ${processCpuMs.toFixed(2)}, PostgreSQL ${databaseCpuMs.toFixed(2)})`;
const dbos = await startDbos();
console.log(
  `${captured.length} statements and ${appendCalls.length} World appends per run of ${steps} steps; ms per run, CPU ms per run`,
);
if (!dbos) console.log('(DBOS is not installed in benchmarks/peers/dbos: no comparison)');
for (let i = 0; i < 100; i++) {
  await replay();
  await replayLogAlone();
  await replayThroughWorld();
}
// Per arm, each block's ms per run and its ratio to DBOS's block, for the summary.
const summary = new Map();
const note = (arm, result, peer) => {
  const entry = summary.get(arm) ?? { ms: [], ratios: [] };
  entry.ms.push(result.ms);
  if (peer) entry.ratios.push(result.ms / peer.ms);
  summary.set(arm, entry);
};
const spacings = [];
for (let index = 0; index < blocks; index++) {
  gaps.length = 0;
  const engine = await block(realRun);
  const spacingMs = median(gaps);
  const throughWorld = await block(replayThroughWorld);
  const storage = await block(replay);
  const spaced = await block(() => replay(captured, spacingMs));
  const logAlone = await block(replayLogAlone);
  spacings.push(spacingMs);
  console.log(
    `engine and storage ${show(engine)}   World alone ${show(throughWorld)}   storage alone ${show(storage)}   ` +
      `storage spaced by the runs' median gap, ${spacingMs.toFixed(3)} ms, ${show(spaced)}   log alone ${show(logAlone)}`,
  );
  const peer = await dbos?.block();
  if (peer) {
    const ratio = (arm) => `${(arm.ms / peer.ms).toFixed(2)}×`;
    console.log(
      `  dbos ${show(peer)}   engine and storage ${ratio(engine)} dbos, World alone ${ratio(throughWorld)}, ` +
        `storage alone ${ratio(storage)}, storage spaced ${ratio(spaced)}, log alone ${ratio(logAlone)}`,
    );
  }
  const arms = {
    'engine and storage': engine,
    'World alone': throughWorld,
    'storage alone': storage,
    'storage spaced': spaced,
    'log alone': logAlone,
  };
  for (const [arm, result] of Object.entries(arms)) note(arm, result, peer);
  if (peer) note('dbos', peer);
}
const range = (values, digits) => {
  const spread = summarize(values);
  return `${spread.median.toFixed(digits)} (${spread.min.toFixed(digits)} to ${spread.max.toFixed(digits)})`;
};
console.log(`medians of ${blocks} blocks (ranges); the median gap ${range(spacings, 3)} ms`);
for (const [arm, { ms, ratios }] of summary) {
  console.log(`  ${arm.padEnd(20)} ${range(ms, 2)} ms${ratios.length ? `, ${range(ratios, 2)}× dbos` : ''}`);
}
dbos?.stop();
await connection.end();
await sequential.stop();
await world.close();
await server.stop();
process.exit(0);
