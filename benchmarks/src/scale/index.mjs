// The scale benchmark: does an operation cost more once the database holds a long
// history? Two databases on the runner's PostgreSQL, one empty and one seeded with
// 100,000 runs, 1,000,000 events and 100,000 delayed messages; a real world-postgres World
// on each; the same operations timed on both, alternating, and the seeded ÷ empty ratio of
// their medians. The plans of the list and queue-claim queries name the indexes involved.
import { createPostgresWorld, migrate } from '@cairn/world-postgres';
import pg from 'pg';
import { recreateDatabase } from '../databases.mjs';
import { RecordingPool } from './plans.mjs';
import {
  checkSeededReads,
  flatLimit,
  measureAppends,
  measureListings,
  measureQueues,
  measureWorkflows,
} from './sections.mjs';
import { seedHistory } from './seed.mjs';

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
      await recreateDatabase(admin, `bench_scale_${name}`);
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
    const context = { result, sides, timeline, settings, say };
    await checkSeededReads(context);
    await measureListings(context);
    say(`scale: seeded rows read back correctly (${result.checks.length} checks)`);
    await measureAppends(context);
    await measureQueues(context);
    await measureWorkflows(context);
  } catch (error) {
    result.status = 'failed';
    result.reason = error instanceof Error ? error.message : String(error);
    say(`scale: FAILED: ${result.reason}`);
  } finally {
    for (const side of sides) {
      await closeSide(side).catch((error) => say(`scale: closing the ${side.name} World failed: ${error.message}`));
    }
  }
  return result;
}

async function openSide(name, connectionString) {
  const pool = new RecordingPool({ connectionString, max: 20 });
  pool.on('error', () => {}); // an idle connection dropped by the server; the next query reconnects
  const world = createPostgresWorld({ pool });
  await world.open();
  const admin = new pg.Client({ connectionString });
  await admin.connect();
  return { name, pool, world, admin };
}

async function closeSide(side) {
  await side.worker?.stop();
  await side.world.close();
  await side.pool.end();
  await side.admin.end();
}

function describeSeeding(written) {
  const statuses = Object.entries(written.byStatus)
    .map(([status, count]) => `${count} ${status}`)
    .join(', ');
  return `${written.runs} runs (${statuses}), ${written.events} events, ${written.steps} steps, ${written.hooks} hooks, ${written.waits} waits, ${written.messages} delayed messages`;
}
