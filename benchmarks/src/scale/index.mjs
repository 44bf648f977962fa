// The scale benchmark: does an operation cost more once the database holds a long
// history? Two databases on the runner's PostgreSQL, one empty and one seeded with
// 100,000 runs, 1,000,000 events and 100,000 delayed messages; a real world-postgres World
// on each; the same operations timed on both, alternating, and the seeded ÷ empty ratio of
// their medians. The plans of the list and queue-claim queries name the indexes involved.
import { createPostgresWorld, migrate } from '@cairn/world-postgres';
import pg from 'pg';
import { summarize } from '../statistics.mjs';
import { stepTopic, workflowTopic } from './history.mjs';
import { explain, queueStatementKind, RecordingPool, summarizePlan } from './plans.mjs';
import {
  addListingFixtures,
  alternate,
  middleCursor,
  pageSize,
  sampleAppend,
  sampleListing,
  sampleQueue,
  sampleWorkflow,
  startProbeConsumers,
  startWorkflowWorker,
  workflowSteps,
} from './probes.mjs';
import { seedHistory } from './seed.mjs';
import { checkListingPage, checkSeededRun } from './verify.mjs';

/** A seeded median above this multiple of the empty one counts as growing with history. */
export const flatLimit = 1.5;
export const scaleDefaults = {
  runs: 100_000,
  messages: 100_000,
  samples: { listing: 50, appends: 200, queue: 100, workflows: 20 },
};

/**
 * Runs the whole scale benchmark on the server behind `urlFor(database)`, creating (and
 * replacing) the databases bench_scale_empty and bench_scale_seeded. Never throws: a
 * failure, a seeded row the World reads back wrong included, is returned as
 * `{ status: 'failed', reason }` with whatever was measured before it.
 */
export async function measureScale({ admin, urlFor, say, runs, messages, samples } = {}) {
  const settings = { ...scaleDefaults, ...(runs && { runs }), ...(messages && { messages }) };
  settings.samples = { ...scaleDefaults.samples, ...samples };
  const result = { status: 'ok', flatLimit, seeded: undefined, measurements: [], plans: [], checks: [] };
  const sides = [];
  try {
    for (const name of ['empty', 'seeded']) {
      await admin.query(`DROP DATABASE IF EXISTS bench_scale_${name} WITH (FORCE)`);
      await admin.query(`CREATE DATABASE bench_scale_${name}`);
    }
    await migrate({ connectionString: urlFor('bench_scale_empty') });
    say(`scale: seeding ${settings.runs} runs and ${settings.messages} delayed messages`);
    const seeding = await seedHistory({
      connectionString: urlFor('bench_scale_seeded'),
      runs: settings.runs,
      messages: settings.messages,
      log: (line) => say(`scale: ${line}`),
    });
    const { timeline, ...written } = seeding;
    result.seeded = written;
    say(`scale: seeded ${describeSeeding(written)} in ${written.seconds.toFixed(0)} s`);
    for (const name of ['empty', 'seeded']) sides.push(await openSide(name, urlFor(`bench_scale_${name}`)));
    const [, seeded] = sides;
    result.seeded.databaseBytes = Number(
      (await seeded.admin.query('SELECT pg_database_size(current_database()) AS size')).rows[0].size,
    );

    // Seeded runs of every kind, spread over the history, must read back as seeded.
    const checked = [0, 6, 7, 8, 9, Math.floor(settings.runs / 2) + 3, settings.runs - 1];
    for (const number of checked) fail(await checkSeededRun(seeded.world, timeline, number));
    result.checks.push(`runs.get, events.list and the step, hook and wait lists of seeded runs ${checked.join(', ')}`);

    for (const side of sides) await addListingFixtures(side);
    const listings = [];
    for (const status of ['running', 'completed']) {
      listings.push({ status, page: 'first' });
      const middles = Object.fromEntries(
        await Promise.all(sides.map(async (side) => [side.name, await middleCursor(side, status)])),
      );
      listings.push({ status, page: 'later', middles });
      const deep = await seeded.world.runs.list({ status, limit: pageSize, cursor: middles.seeded.cursor });
      fail(checkListingPage(deep, timeline, status));
      result.checks.push(`runs.list({ status: '${status}' }) at row ${middles.seeded.position} of the seeded database`);
    }
    say(`scale: seeded rows read back correctly (${result.checks.length} checks)`);

    for (const listing of listings) {
      const options = (side) => ({ status: listing.status, cursor: listing.middles?.[side.name].cursor });
      await alternate(sides, 5, (side) => sampleListing(side, options(side)));
      const taken = await alternate(sides, settings.samples.listing, (side) => sampleListing(side, options(side)));
      const where = listing.middles
        ? `page at row ${listing.middles.empty.position} of ${listing.middles.empty.total} (empty) and ${listing.middles.seeded.position} of ${listing.middles.seeded.total} (seeded)`
        : 'newest first';
      record(
        result,
        `runs-list-${listing.status}-${listing.page}`,
        `runs.list({ status: '${listing.status}', limit: ${pageSize} }), ${listing.page} page`,
        taken,
        where,
        say,
      );
      const [statement] = await seeded.pool.capture(() => seeded.world.runs.list(options(seeded)));
      await recordPlan(result, seeded, `runs.list, ${listing.status}, ${listing.page} page`, statement, {
        analyze: true,
      });
    }

    await alternate(sides, 10, sampleAppend);
    record(
      result,
      'append',
      'step append: step_completed + next step_created, fenced on the tail',
      await alternate(sides, settings.samples.appends, sampleAppend),
      'createBatch with lastKnownEventId, 5 per fresh run',
      say,
    );

    for (const queue of [
      { topic: stepTopic, grouped: false, label: 'queue-steps' },
      { topic: workflowTopic, grouped: true, label: 'queue-workflows' },
    ]) {
      const stop = startProbeConsumers(sides, queue.topic);
      try {
        await alternate(sides, 5, (side) => sampleQueue(side, queue));
        const taken = await alternate(sides, settings.samples.queue, (side) => sampleQueue(side, queue));
        const delayed = (
          await seeded.admin.query('SELECT count(*)::int AS count FROM "cairn".queue_messages WHERE topic = $1', [
            queue.topic,
          ])
        ).rows[0].count;
        record(
          result,
          queue.label,
          `queue.send to delivery on ${queue.topic}${queue.grouped ? ' (grouped, like a wake)' : ' (like a queued step)'}`,
          taken,
          `${delayed} delayed messages on the topic in the seeded database`,
          say,
        );
        const statements = await seeded.pool.capture(() => sampleQueue(seeded, queue));
        const claim = statements.find((statement) => queueStatementKind(statement.text) === 'claim');
        await recordPlan(result, seeded, `queue claim (lease) on ${queue.topic}`, claim);
        const send = statements.find((statement) => queueStatementKind(statement.text) === 'send');
        await recordPlan(result, seeded, `queue.send on ${queue.topic}`, send);
      } finally {
        await stop();
      }
    }

    const startMs = {};
    for (const side of sides) startMs[side.name] = await startWorkflowWorker(side);
    result.workerStart = {
      emptyMs: startMs.empty,
      seededMs: startMs.seeded,
      note: 'worker.start() re-enqueues every pending and running run, so it reads all of them by design',
    };
    await alternate(sides, 3, sampleWorkflow);
    record(
      result,
      'workflow-10',
      `a ${workflowSteps}-step sequential workflow, start to result`,
      await alternate(sides, settings.samples.workflows, sampleWorkflow),
      'worker and client in this process',
      say,
    );
  } catch (error) {
    result.status = 'failed';
    result.reason = error instanceof Error ? error.message : String(error);
    say(`scale: FAILED: ${result.reason}`);
  } finally {
    for (const side of sides) await closeSide(side);
  }
  return result;
}

function fail(problems) {
  if (problems.length > 0) throw new Error(`seeded rows read back wrong: ${problems.join('; ')}`);
}

async function openSide(name, connectionString) {
  const pool = new RecordingPool({ connectionString, max: 20 });
  pool.on('error', () => {}); // an idle connection dropped by the server; the next query reconnects
  const world = createPostgresWorld({ pool });
  await world.open();
  const admin = new pg.Client({ connectionString });
  await admin.connect();
  // Statistics for the empty one too, as for the seeded one, which seeding vacuumed last.
  if (name === 'empty') await admin.query('VACUUM (ANALYZE)');
  return { name, pool, world, admin };
}

async function closeSide(side) {
  await side.worker?.stop();
  await side.world.close();
  await side.pool.end();
  await side.admin.end();
}

function record(result, id, title, samples, detail, say) {
  const empty = summarize(samples.empty);
  const seeded = summarize(samples.seeded);
  const ratio = seeded.median / empty.median;
  const verdict = ratio <= flatLimit ? 'flat' : 'GROWS';
  result.measurements.push({ id, title, detail, empty, seeded, ratio, verdict, samples });
  say(
    `scale ${id}: empty ${empty.median.toFixed(2)} ms, seeded ${seeded.median.toFixed(2)} ms (medians), ×${ratio.toFixed(2)} ${verdict}`,
  );
}

async function recordPlan(result, side, query, statement, options) {
  if (!statement) {
    result.plans.push({ query, error: 'the statement was not captured' });
    return;
  }
  const summary = summarizePlan(await explain(side.admin, statement, options));
  result.plans.push({ query, ...summary });
}

function describeSeeding(written) {
  const statuses = Object.entries(written.byStatus)
    .map(([status, count]) => `${count} ${status}`)
    .join(', ');
  return `${written.runs} runs (${statuses}), ${written.events} events, ${written.steps} steps, ${written.hooks} hooks, ${written.waits} waits, ${written.messages} delayed messages`;
}
