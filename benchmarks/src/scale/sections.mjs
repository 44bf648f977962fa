// The scale benchmark's sections, in the order they run. Each takes the run's context:
// `result` (filled in), `sides` (empty first, then seeded), `timeline` (of the seeded
// history), `settings` and `say`.
import { summarize } from '../statistics.mjs';
import { kindOf, stepTopic, workflowTopic } from './history.mjs';
import { explain, listingStatement, queueStatementKind, summarizePlan } from './plans.mjs';
import {
  addListingFixtures,
  alternate,
  listingOptions,
  middleCursor,
  sampleAppend,
  sampleListing,
  sampleQueue,
  sampleWorkflow,
  startProbeConsumers,
  startWorkflowWorker,
  workflowSteps,
} from './probes.mjs';
import { checkListingPage, checkSeededRun } from './verify.mjs';

/** A seeded median above this multiple of the empty one counts as growing with history. */
export const flatLimit = 1.5;

function fail(problems) {
  if (problems.length > 0) throw new Error(`seeded rows read back wrong: ${problems.join('; ')}`);
}

/** The first seeded run of every kind, one in the middle and the last must read back as seeded. */
export async function checkSeededReads({ result, sides, timeline }) {
  const seeded = sides[1];
  const firstOfKind = new Map();
  for (let number = 0; firstOfKind.size < 5 && number < timeline.runs; number++) {
    const { kind } = kindOf(number, timeline.runs);
    if (!firstOfKind.has(kind)) firstOfKind.set(kind, number);
  }
  const checked = [...firstOfKind.values(), Math.floor(timeline.runs / 2) + 3, timeline.runs - 1];
  for (const number of checked) fail(await checkSeededRun(seeded.world, timeline, number));
  result.checks.push(`runs.get, events.list and the step, hook and wait lists of seeded runs ${checked.join(', ')}`);
}

/**
 * runs.list by status: the newest page of each status, and a page from the middle of
 * the running and completed runs. The empty database holds just enough runs for those
 * pages; the seeded one holds only its history, so its newest pending run is old.
 */
export async function measureListings(context) {
  const { result, sides, timeline } = context;
  const [empty, seeded] = sides;
  await addListingFixtures(empty);
  // Planner statistics for the empty database too, as seeding left them for the seeded one.
  await empty.admin.query('VACUUM (ANALYZE)');
  const listings = [];
  for (const status of ['running', 'completed', 'pending']) {
    listings.push({ status, page: 'first', where: () => undefined, detail: 'the newest runs of the status' });
    const first = await seeded.world.runs.list(listingOptions(status));
    fail(checkListingPage(first, timeline, status));
    if (status === 'pending') continue;
    const middles = { empty: await middleCursor(empty, status), seeded: await middleCursor(seeded, status) };
    const deep = await seeded.world.runs.list(listingOptions(status, middles.seeded.cursor));
    fail(checkListingPage(deep, timeline, status));
    result.checks.push(`runs.list({ status: '${status}' }) at row ${middles.seeded.position} of the seeded database`);
    listings.push({
      status,
      page: 'later',
      where: (side) => middles[side.name].cursor,
      detail: `page at row ${middles.empty.position} of ${middles.empty.total} (empty), ${middles.seeded.position} of ${middles.seeded.total} (seeded)`,
    });
  }
  result.checks.push('the first page of runs.list for each status on the seeded database');
  for (const listing of listings) {
    const sample = (side) => sampleListing(side, { status: listing.status, cursor: listing.where(side) });
    await alternate(sides, 5, sample);
    const taken = await alternate(sides, context.settings.samples.listing, sample);
    const title = `runs.list({ status: '${listing.status}', limit: 50 }), ${listing.page} page`;
    record(context, `runs-list-${listing.status}-${listing.page}`, title, taken, listing.detail);
    const options = listingOptions(listing.status, listing.where(seeded));
    const statement = listingStatement(await seeded.pool.capture(() => seeded.world.runs.list(options)));
    // A read: analysed, so the plan shows how many rows the scan read to fill the page.
    await recordPlan(context, `runs.list, ${listing.status}, ${listing.page} page`, statement, { analyze: true });
  }
}

export async function measureAppends(context) {
  await alternate(context.sides, 10, sampleAppend);
  const taken = await alternate(context.sides, context.settings.samples.appends, sampleAppend);
  const title = 'step append: step_completed + next step_created, fenced on the tail';
  record(context, 'append', title, taken, 'createBatch with lastKnownEventId, 5 per fresh run');
}

/** queue.send to delivery on each of the engine's topics, where the seeded delayed messages wait. */
export async function measureQueues(context) {
  const { sides } = context;
  const seeded = sides[1];
  for (const queue of [
    { topic: stepTopic, grouped: false, label: 'queue-steps', kind: 'like a queued step' },
    { topic: workflowTopic, grouped: true, label: 'queue-workflows', kind: 'grouped, like a wake' },
  ]) {
    const stop = startProbeConsumers(sides, queue.topic);
    let statements;
    try {
      await alternate(sides, 5, (side) => sampleQueue(side, queue));
      const taken = await alternate(sides, context.settings.samples.queue, (side) => sampleQueue(side, queue));
      const { rows } = await seeded.admin.query(
        'SELECT count(*)::int AS count FROM "cairn".queue_messages WHERE topic = $1',
        [queue.topic],
      );
      const detail = `${rows[0].count} delayed messages on the topic in the seeded database`;
      record(context, queue.label, `queue.send to delivery on ${queue.topic} (${queue.kind})`, taken, detail);
      statements = await seeded.pool.capture(() => sampleQueue(seeded, queue));
    } finally {
      await stop();
    }
    // Analysed only now: the consumers are stopped and every probe was acknowledged, so
    // no message is due and running the claim leases nothing. A send is one call of the
    // schema's queue_send function, whose statements EXPLAIN cannot see; its time is above.
    const claim = statements.find((statement) => queueStatementKind(statement.text) === 'claim');
    await recordPlan(context, `queue claim (lease) on ${queue.topic}`, claim, { analyze: true });
  }
}

export async function measureWorkflows(context) {
  const { result, sides } = context;
  const startMs = {};
  for (const side of sides) startMs[side.name] = await startWorkflowWorker(side);
  result.workerStart = {
    emptyMs: startMs.empty,
    seededMs: startMs.seeded,
    note: 'worker.start() re-enqueues every pending and running run, so it reads all of them by design',
  };
  await alternate(sides, 3, sampleWorkflow);
  const taken = await alternate(sides, context.settings.samples.workflows, sampleWorkflow);
  const title = `a ${workflowSteps}-step sequential workflow, start to result`;
  record(context, 'workflow-10', title, taken, 'worker and client in this process');
}

function record({ result, say }, id, title, samples, detail) {
  const empty = summarize(samples.empty);
  const seeded = summarize(samples.seeded);
  const ratio = seeded.median / empty.median;
  const verdict = ratio <= flatLimit ? 'flat' : 'GROWS';
  result.measurements.push({ id, title, detail, empty, seeded, ratio, verdict, samples });
  say(
    `scale ${id}: empty ${empty.median.toFixed(2)} ms, seeded ${seeded.median.toFixed(2)} ms (medians), ×${ratio.toFixed(2)} ${verdict}`,
  );
}

/** The plan of a captured statement on the seeded database. */
async function recordPlan({ result, sides }, query, statement, options) {
  if (!statement) {
    result.plans.push({ query, error: 'the statement was not captured' });
    return;
  }
  result.plans.push({ query, ...summarizePlan(await explain(sides[1].admin, statement, options)) });
}
