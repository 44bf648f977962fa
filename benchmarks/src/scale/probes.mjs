// The operations the scale benchmark times, each against a "side": one World on one
// database (empty or seeded), with an admin connection to that database for setup and for
// waiting on conditions outside the timed window. Samples alternate between the sides, so
// a change in the machine's background load lands on both alike.
import { createClient, createWorker, step, workflow } from '@cairn/core';
import { seededRun, timelineOf } from './history.mjs';

const echo = step('scale.echo', async (index) => index);
const sequential = workflow('scale.sequential', async ({ steps }) => {
  let completed = 0;
  for (let index = 0; index < steps; index++) {
    await echo(index);
    completed++;
  }
  return completed;
});
export const workflowSteps = 10;

/** Rejects naming `what` if `promise` has not settled within `ms`, so a broken probe cannot hang the run. */
export function within(promise, ms, what) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

/** `count` samples per side, each side in turn, starting with the other side every other round. */
export async function alternate(sides, count, sample) {
  const samples = Object.fromEntries(sides.map((side) => [side.name, []]));
  for (let index = 0; index < count; index++) {
    for (const side of index % 2 === 0 ? sides : [...sides].reverse()) {
      samples[side.name].push(await sample(side, index));
    }
  }
  return samples;
}

const timed = async (work) => {
  const started = performance.now();
  const value = await work();
  return { value, elapsedMs: performance.now() - started };
};

// ---------------------------------------------------------------------------------------
// A step append as the engine writes it: the step's completion and the next step, in one
// batch fenced on the tail the writer last saw. Five steps per run, then a fresh run.

const appendsPerRun = 5;
const stepId = (index) => `step:scale.append#${index}`;

export async function sampleAppend(side) {
  let run = side.appendRun;
  if (!run || run.step >= appendsPerRun) {
    side.appendRuns = (side.appendRuns ?? 0) + 1;
    const runId = `scale-append-${side.name}-${side.appendRuns}`;
    const created = await side.world.events.createBatch(runId, [
      { eventType: 'run_created', eventData: { workflowName: 'scale.append', input: { probe: side.appendRuns } } },
      { eventType: 'run_started' },
      { eventType: 'step_created', correlationId: stepId(0), eventData: { stepName: 'scale.append', input: [0] } },
    ]);
    run = side.appendRun = { runId, step: 0, tail: created.at(-1).event.eventId };
  }
  const { step: index } = run;
  const { value, elapsedMs } = await timed(() =>
    side.world.events.createBatch(
      run.runId,
      [
        { eventType: 'step_completed', correlationId: stepId(index), eventData: { output: index } },
        {
          eventType: 'step_created',
          correlationId: stepId(index + 1),
          eventData: { stepName: 'scale.append', input: [index + 1] },
        },
      ],
      { lastKnownEventId: run.tail },
    ),
  );
  run.tail = value.at(-1).event.eventId;
  run.step++;
  return elapsedMs;
}

// ---------------------------------------------------------------------------------------
// Queue: from queue.send of an immediate message to the consumer's handler receiving it,
// on a topic that also holds the seeded delayed messages.

/** Starts a consumer on `topic` for each side; returns a function that stops them. */
export function startProbeConsumers(sides, topic) {
  const consumers = sides.map((side) =>
    side.world.queue.consume(topic, async (message) => side.onDelivery?.(message, performance.now()), {
      concurrency: 1,
    }),
  );
  return () => Promise.all(consumers.map((consumer) => consumer.stop()));
}

export async function sampleQueue(side, { topic, grouped, label }) {
  side.probes = (side.probes ?? 0) + 1;
  const probe = `${label}-${side.name}-${side.probes}`;
  const received = new Promise((resolve) => {
    side.onDelivery = (message, at) => {
      if (message.payload?.probe === probe) resolve(at);
    };
  });
  const started = performance.now();
  const { messageId } = await side.world.queue.send(topic, { probe }, grouped ? { groupKey: probe } : undefined);
  const deliveredAt = await within(received, 30_000, `delivery of ${probe}`);
  // Outside the timed window: the next sample starts once this one's ack has committed,
  // so it never measures a consumer still busy with the previous message.
  await untilAcknowledged(side, messageId);
  return deliveredAt - started;
}

/** Polls the queue table until the acknowledged message is gone, with a deadline. */
async function untilAcknowledged(side, messageId) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { rowCount } = await side.admin.query(`SELECT 1 FROM "cairn".queue_messages WHERE message_id = $1`, [
      messageId,
    ]);
    if (rowCount === 0) return;
    if (Date.now() > deadline) throw new Error(`message ${messageId} was not acknowledged within 10 s`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

// ---------------------------------------------------------------------------------------
// A real workflow of ten sequential steps, worker and client in this process.

/** Starts a worker on the side; returns how long start() took (it re-enqueues every unfinished run). */
export async function startWorkflowWorker(side) {
  side.worker = createWorker({ world: side.world, workflows: [sequential], logger: false });
  side.client = createClient({ world: side.world });
  return (await timed(() => side.worker.start())).elapsedMs;
}

export async function sampleWorkflow(side) {
  side.workflowRuns = (side.workflowRuns ?? 0) + 1;
  const id = `scale-workflow-${side.workflowRuns}`;
  const { value, elapsedMs } = await timed(async () => {
    const run = await side.client.start(sequential, { steps: workflowSteps }, { id });
    return within(run.result(), 60_000, `workflow run ${run.id}`);
  });
  if (value !== workflowSteps) throw new Error(`the workflow returned ${value}, expected ${workflowSteps}`);
  return elapsedMs;
}

// ---------------------------------------------------------------------------------------
// runs.list by status, a first page and a page deep in the status's runs.

export const pageSize = 50;

/** The seeded kinds of run each listed status is made of. */
const kindsByStatus = { pending: ['pending'], running: ['sleeping', 'awaiting-hook'], completed: ['completed'] };

/**
 * The runs the empty database holds: enough of each listed status for a first and a second
 * full page, so both databases answer with the same number of rows. Each is a seeded run's
 * log appended anew under its own id, so its rows have the seeded runs' shape (inputs and
 * outcomes of the same sizes, kept in the same places) and the two databases differ only
 * in the history around them.
 */
export async function addListingFixtures(side, perStatus = 2 * pageSize + 20) {
  const timeline = timelineOf(perStatus * 10, Date.now());
  const made = { pending: 0, running: 0, completed: 0 };
  for (let number = 0; Object.values(made).some((count) => count < perStatus); number++) {
    const seeded = seededRun(number, timeline);
    const status = Object.keys(kindsByStatus).find((candidate) => kindsByStatus[candidate].includes(seeded.kind));
    if (status === undefined || made[status] >= perStatus) continue;
    const runId = `scale-${status}-${made[status]++}`;
    for (const { requests } of seeded.appends) await side.world.events.createBatch(runId, requests);
  }
}

/**
 * The cursor that starts a page in the middle of `status`'s runs, found by paging there
 * through the World (large pages to get there fast; a cursor does not depend on page size).
 */
export async function middleCursor(side, status) {
  const { rows } = await side.admin.query('SELECT count(*)::int AS count FROM "cairn".runs WHERE status = $1', [
    status,
  ]);
  const total = rows[0].count;
  const position = Math.max(pageSize, Math.floor(total / 2 / pageSize) * pageSize);
  let cursor;
  let seen = 0;
  while (seen < position) {
    const page = await side.world.runs.list({
      status,
      limit: Math.min(1000, position - seen),
      ...(cursor === undefined ? {} : { cursor }),
    });
    seen += page.data.length;
    cursor = page.cursor ?? undefined;
    if (cursor === undefined) throw new Error(`runs.list({ status: '${status}' }) ended after ${seen} of ${total}`);
  }
  return { cursor, position, total };
}

/** The options of a timed listing, also used to capture its statement for EXPLAIN. */
export const listingOptions = (status, cursor) => ({
  status,
  limit: pageSize,
  ...(cursor === undefined ? {} : { cursor }),
});

export async function sampleListing(side, { status, cursor }) {
  const options = listingOptions(status, cursor);
  const { value, elapsedMs } = await timed(() => side.world.runs.list(options));
  if (value.data.length !== pageSize) {
    throw new Error(`runs.list(${JSON.stringify(options)}) on ${side.name} returned ${value.data.length} runs`);
  }
  return elapsedMs;
}
