// The seeded history for the scale benchmark, as pure functions of a run's number: what
// happened to run n (its appends, in order, with their times), and the rows the World
// would hold for it afterwards. The rows are folded with core's RunDraft, the same entity
// rules every World applies on append, so a seeded run reads back exactly as if the
// engine had written it one append at a time.
import { nextCommitStamp, RunDraft } from '@cairn/core/world';

const minute = 60_000;
const hour = 60 * minute;
const day = 24 * hour;
/** How far back the seeded history reaches: run 0 is this old, the last run a few minutes. */
const historyMs = 30 * day;

/** Workflows of a plausible application, four steps each. */
const catalog = [
  {
    name: 'orders.fulfil',
    key: 'ord',
    steps: ['orders.reserve-stock', 'payments.charge', 'shipping.create-label', 'email.send-receipt'],
  },
  {
    name: 'billing.invoice',
    key: 'inv',
    steps: ['billing.load-usage', 'billing.price', 'billing.render-pdf', 'email.send-invoice'],
  },
  {
    name: 'users.onboard',
    key: 'usr',
    steps: ['users.create-account', 'crm.sync-contact', 'email.send-welcome', 'analytics.track'],
  },
  {
    name: 'reports.nightly',
    key: 'rep',
    steps: ['reports.query', 'reports.aggregate', 'storage.upload', 'chat.notify'],
  },
];
/**
 * Pending runs belong to a workflow that no worker has any more: the oldest tenth of the
 * history, left behind when the workflow was retired. That is what keeps runs pending for
 * long, and it puts a status that is common overall (a tenth of all runs) nowhere near the
 * newest runs, which is what a newest-first listing of that status must cope with.
 */
const retiredWorkflow = 'exports.legacy-csv';
const pendingShare = 10;

/**
 * After the pending runs, each run number becomes, by its place in a cycle of nine: six
 * completed, one failed, one sleeping, one waiting on a hook with a timeout. Their logs
 * hold 11, 11, 11 and 10 events and a pending run's 2, so the whole history holds exactly
 * 10 events per run whenever the number of runs is a multiple of 10.
 */
const cycle = [...Array.from({ length: 6 }, () => 'completed'), 'failed', 'sleeping', 'awaiting-hook'];

/** What run `number` of a history of `runs` runs becomes, and which workflow it runs. */
export function kindOf(number, runs) {
  const pendingRuns = Math.ceil(runs / pendingShare);
  if (number < pendingRuns) return { kind: 'pending', workflow: catalog[number % catalog.length] };
  const position = number - pendingRuns;
  return {
    kind: cycle[position % cycle.length],
    workflow: catalog[Math.floor(position / cycle.length) % catalog.length],
  };
}

/** The topics and payloads are the engine's (packages/core/src/runtime/topics.ts). */
export const workflowTopic = 'cairn.workflows';
export const stepTopic = 'cairn.steps';

/** Crockford base32, as ULIDs use. */
const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const base32 = (value, width) => {
  let text = '';
  let rest = BigInt(value);
  for (let index = 0; index < width; index++) {
    text = alphabet[Number(rest % 32n)] + text;
    rest /= 32n;
  }
  return text;
};

/**
 * A ULID's shape (what the client mints for a run without an id): 10 characters of time,
 * then 16 that here carry the run's number instead of randomness, so an id leads back to
 * the run it was seeded from.
 */
export const seededRunId = (number, createdAt) => `${base32(createdAt, 10)}${base32(number, 16)}`;

/** The run number a seeded run id carries, or undefined for any other id. */
export function runNumberOf(runId) {
  if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(runId)) return undefined;
  let value = 0n;
  for (const character of runId.slice(10)) value = value * 32n + BigInt(alphabet.indexOf(character));
  return Number(value);
}

/** Where the history sits in time, fixed once per seeding. */
export function timelineOf(runs, now) {
  return { runs, now, startedAt: now - historyMs, spacingMs: Math.floor((historyMs - 10 * minute) / runs) };
}

const errorOf = (name, message, code) => ({
  name,
  message,
  stack: `${name}: ${message}\n    at attempt (file:///srv/app/dist/steps.js:41:13)\n    at async runStep (file:///srv/app/node_modules/@cairn/core/dist/index.js:1687:14)`,
  code,
});

/**
 * The appends that make run `number`, each a batch of requests committed at one time, as
 * the engine writes them: run_created alone; run_started with the first step; each step's
 * completion with whatever it leads to (the next step, a sleep, a hook, the result).
 */
export function seededRun(number, timeline) {
  const { kind, workflow } = kindOf(number, timeline.runs);
  const createdAt = timeline.startedAt + number * timeline.spacingMs;
  const runId = seededRunId(number, createdAt);
  const reference = `${workflow.key}-${number}`;
  const stepId = (index) => `step:${workflow.steps[index]}#0`;
  const stepCreated = (index) => ({
    eventType: 'step_created',
    correlationId: stepId(index),
    eventData: { stepName: workflow.steps[index], input: [reference, index], placement: 'inline' },
  });
  const stepCompleted = (index) => ({
    eventType: 'step_completed',
    correlationId: stepId(index),
    eventData: { output: { ok: true, ref: `${reference}/${index}` } },
  });
  let time = createdAt;
  const appends = [];
  const append = (afterMs, ...requests) => {
    time += afterMs;
    appends.push({ time, requests });
  };
  const input = { id: reference, amountCents: 1000 + (number % 9000), tags: ['seeded', workflow.key] };
  if (kind === 'pending') {
    append(0, { eventType: 'run_created', eventData: { workflowName: retiredWorkflow, input } });
    append(2_000, {
      eventType: 'run_waiting',
      eventData: {
        reason: 'workflow-not-registered',
        message: `No worker has workflow "${retiredWorkflow}"; deploy a worker that registers it.`,
        workerWorkflows: catalog.map((entry) => entry.name),
      },
    });
    return { number, kind, runId, appends, wait: undefined };
  }
  append(0, { eventType: 'run_created', eventData: { workflowName: workflow.name, input } });
  append(20, { eventType: 'run_started' }, stepCreated(0));
  // An awaiting-hook run is one step short of the others: its hook and its timeout are its
  // tenth and eleventh events.
  const completedSteps = kind === 'awaiting-hook' ? 2 : 3;
  for (let index = 0; index < completedSteps; index++) append(35, stepCompleted(index), stepCreated(index + 1));
  // Due one to seven days after seeding: never during the benchmark.
  const resumeAt = timeline.now + (1 + (number % 7)) * day;
  const last = completedSteps;
  if (kind === 'completed') {
    append(35, stepCompleted(last), { eventType: 'run_completed', eventData: { output: { ok: true, reference } } });
    return { number, kind, runId, appends, wait: undefined };
  }
  if (kind === 'failed') {
    const cause = errorOf('FatalError', `${workflow.steps[last]} refused ${reference}`, 'FATAL');
    append(
      35,
      { eventType: 'step_failed', correlationId: stepId(last), eventData: { error: cause } },
      {
        eventType: 'run_failed',
        eventData: {
          error: errorOf('StepFailedError', `Step "${workflow.steps[last]}" failed: ${cause.message}`, 'STEP_FAILED'),
        },
      },
    );
    return { number, kind, runId, appends, wait: undefined };
  }
  const waitId = 'sleep:sleep#0';
  const waitCreated = { eventType: 'wait_created', correlationId: waitId, eventData: { resumeAt } };
  if (kind === 'sleeping') append(35, stepCompleted(last), waitCreated);
  else {
    const hookCreated = {
      eventType: 'hook_created',
      correlationId: 'hook:hook#0',
      eventData: { token: `approve:${reference}` },
    };
    append(35, stepCompleted(last), hookCreated, waitCreated);
  }
  return { number, kind, runId, appends, wait: { waitId, resumeAt, createdAt: time } };
}

const nothingStored = {
  step: () => undefined,
  hook: () => undefined,
  wait: () => undefined,
  tokenHolder: () => undefined,
  activeHooks: () => [],
};

/**
 * The rows the World holds for a seeded run: its events and its run, step, hook and wait
 * views, each with the creating event's seq that the tables order entities by. Throws,
 * like an append would, if the history broke an entity rule.
 */
export function rowsOf(seeded) {
  const draft = new RunDraft(seeded.runId, undefined, nothingStored);
  for (const { time, requests } of seeded.appends) {
    for (const request of requests) draft.apply(request, nextCommitStamp(draft.run, time));
  }
  const createdSeq = new Map();
  for (const event of draft.events) {
    if (event.eventType.endsWith('_created') && event.correlationId !== undefined) {
      createdSeq.set(event.correlationId, event.seq);
    }
  }
  const withSeq = (entities, idField) =>
    [...entities.values()].map((body) => ({ id: body[idField], createdSeq: createdSeq.get(body[idField]), body }));
  return {
    run: draft.run,
    events: draft.events,
    steps: withSeq(draft.steps, 'stepId'),
    hooks: withSeq(draft.hooks, 'hookId'),
    waits: withSeq(draft.waits, 'waitId'),
  };
}

/**
 * Delayed message `index` of the seeded queue, about run `index % runs`. A waiting run's
 * first message is the timer wake for its wait, exactly as the engine enqueues it. The
 * others alternate between a timer wake left over from a race the run no longer waits on
 * (the engine leaves those queued; the pass they wake finds nothing due) and a delayed step
 * dispatch. Every one is due one to seven days after seeding.
 */
export function seededMessage(index, timeline) {
  const seeded = seededRun(index % timeline.runs, timeline);
  const enqueuedAt = seeded.appends.at(-1).time;
  const messageId = `msg_${base32(enqueuedAt, 10)}${base32(1_000_000_000 + index, 16)}`;
  if (seeded.wait && index < timeline.runs) {
    const { waitId, resumeAt } = seeded.wait;
    return {
      messageId,
      topic: workflowTopic,
      payload: { runId: seeded.runId, dueAt: resumeAt },
      groupKey: seeded.runId,
      idempotencyKey: `wait:${seeded.runId}:${waitId}`,
      enqueuedAt,
      deliverAt: resumeAt,
    };
  }
  const deliverAt = timeline.now + day + (index % (6 * 24)) * hour;
  if (index % 2 === 0) {
    return {
      messageId,
      topic: workflowTopic,
      payload: { runId: seeded.runId, dueAt: deliverAt },
      groupKey: seeded.runId,
      idempotencyKey: `wait:${seeded.runId}:sleep:reminder#${index}`,
      enqueuedAt,
      deliverAt,
    };
  }
  const stepId = `step:reports.query#${index}`;
  return {
    messageId,
    topic: stepTopic,
    payload: { runId: seeded.runId, stepId },
    groupKey: null,
    idempotencyKey: `step:${seeded.runId}:${stepId}:1`,
    enqueuedAt,
    deliverAt,
  };
}
