// Where a warm run of N sequential steps on cairn-postgres spends its time, phase by phase:
// every World append and every statement it sends is stamped, and each run is cut into
// - the start: from `client.start` to the first append;
// - per append, the World before its statement (checks, the draft, the call's values), the
//   statement from send to reply (pg's encoding, the wire, the server, the commit's flush,
//   pg's decoding), and the World after the reply (the run cache, the results);
// - per step, the engine between one append's result and the next append (the step's body,
//   recording its end, replaying the workflow to its next step);
// - the end: from the last append's result to the run's result in the caller.
// Medians over the runs, in ms; the first gap is shown apart from the others, since it holds
// the hand-over from the run's first pass to the worker. Stamping costs a little itself.
// Usage: node benchmarks/src/append-timeline.mjs [steps] [runs]
import { createRequire } from 'node:module';
import { createPostgresWorld } from '@cairn/world-postgres';
import { startPostgres } from '@cairn/world-postgres/testing';
import { startSequentialRuns } from './sequential-runs.mjs';
import { followReply } from './statement-replies.mjs';
import { median } from './statistics.mjs';

const steps = Number(process.argv[2] ?? 10);
const runs = Number(process.argv[3] ?? 500);
// The pg module world-postgres loads, so the stamps see the World's own statements.
const pg = createRequire(import.meta.resolve('@cairn/world-postgres'))('pg');

/** The current run's stamps, in order: [kind, ms]. Undefined while no run is timed. */
let stamps;
const stamp = (kind) => stamps?.push([kind, performance.now()]);

const query = pg.Client.prototype.query;
pg.Client.prototype.query = function (...args) {
  // The World's statements carry a callback; anything else is not an append's statement.
  if (stamps !== undefined && followReply(args, () => stamp('replied'))) stamp('sent');
  return query.apply(this, args);
};

const server = await startPostgres();
const world = createPostgresWorld({ connectionString: server.connectionString, poolSize: 20 });
for (const method of ['create', 'createBatch']) {
  const append = world.events[method].bind(world.events);
  world.events[method] = (...args) => {
    stamp('append');
    return append(...args).finally(() => stamp('appended'));
  };
}
const sequential = await startSequentialRuns(world, steps);
for (let i = 0; i < 300; i++) await sequential.run(steps);

/** One run's phases in ms, or undefined when its stamps are not the plain shape (a retry, a read). */
function phases(started, ended, marks) {
  const appends = [];
  for (let index = 0; index + 3 < marks.length; index += 4) {
    const kinds = marks.slice(index, index + 4).map(([kind]) => kind);
    if (kinds.join() !== 'append,sent,replied,appended') return undefined;
    appends.push(marks.slice(index, index + 4).map(([, at]) => at));
  }
  if (appends.length * 4 !== marks.length || appends.length === 0) return undefined;
  const gaps = appends.slice(1).map((next, index) => next[0] - appends[index][3]);
  return {
    start: appends[0][0] - started,
    worldBefore: appends.map(([append, sent]) => sent - append),
    statement: appends.map(([, sent, replied]) => replied - sent),
    worldAfter: appends.map(([, , replied, appended]) => appended - replied),
    firstGap: gaps[0],
    gaps: gaps.slice(1),
    end: ended - appends.at(-1)[3],
    total: ended - started,
    appends: appends.length,
  };
}

const timed = [];
let irregular = 0;
for (let i = 0; i < runs; i++) {
  stamps = [];
  const started = performance.now();
  await sequential.run(steps);
  const ended = performance.now();
  const marks = stamps;
  stamps = undefined;
  const run = phases(started, ended, marks);
  if (run === undefined) irregular++;
  else timed.push(run);
}

const perRun = (pick) => median(timed.map(pick));
const each = (pick) => median(timed.flatMap(pick));
const sum = (values) => values.reduce((total, value) => total + value, 0);
const ms = (value) => value.toFixed(3).padStart(7);
console.log(
  `${timed.length} warm runs of ${steps} steps (${irregular} left out: not one statement per append), ` +
    `${perRun((run) => run.appends)} appends each; medians in ms`,
);
console.log(`${ms(perRun((run) => run.total))}  the whole run`);
console.log(`${ms(perRun((run) => run.start))}  start: client.start to the first append`);
console.log(`${ms(each((run) => run.worldBefore))}  each append: the World before its statement`);
console.log(`${ms(each((run) => run.statement))}  each append: its statement, send to reply`);
console.log(`${ms(each((run) => run.worldAfter))}  each append: the World after the reply`);
console.log(`${ms(perRun((run) => run.firstGap))}  the engine between the first two appends`);
console.log(`${ms(each((run) => run.gaps))}  the engine between each later pair`);
console.log(`${ms(perRun((run) => run.end))}  end: the last append's result to the run's result`);
console.log(
  `${ms(perRun((run) => sum(run.statement)))}  the statements, per run; ` +
    `${ms(perRun((run) => run.total - sum(run.statement))).trim()} ms the rest`,
);
await sequential.stop();
await world.close();
await server.stop();
process.exit(0);
