// What drafting a warm step's append costs in the World, with no database: a RunDraft per
// append on the run as the previous append left it, applying that step's completion and the
// next step's creation, as world-postgres does before it builds its call. Prints microseconds
// per step; the drafts are in-memory, so the figure holds on a loaded machine too.
// Usage: node benchmarks/src/draft-cost.mjs [runs] [steps]
import { nextCommitStamp, RunDraft } from '@cairn/core/world';

const runs = Number(process.argv[2] ?? 20_000);
const steps = Number(process.argv[3] ?? 10);
const runId = '01J00000000000000000000000';

/** Reads entities the way the World's run cache does: steps of earlier appends by id. */
function readerOf(stepsById) {
  return {
    step: (stepId) => stepsById.get(stepId),
    wait: () => undefined,
    hook: () => undefined,
    tokenHolder: () => undefined,
    deliveryHolder: () => undefined,
    activeHooks: () => [],
  };
}

function draftRun() {
  const stepsById = new Map();
  let at = 1_700_000_000_000;
  let draft = new RunDraft(runId, undefined, readerOf(stepsById));
  draft.apply(
    { eventType: 'run_created', eventData: { workflowName: 'w', input: [steps] } },
    nextCommitStamp(draft.run, at),
  );
  draft.apply({ eventType: 'run_started' }, nextCommitStamp(draft.run, at));
  const created = (index) => ({
    eventType: 'step_created',
    correlationId: `step_${index}`,
    eventData: { stepName: 'echo', input: [index], placement: 'inline' },
  });
  draft.apply(created(0), nextCommitStamp(draft.run, at));
  for (let index = 0; index < steps; index++) {
    for (const [stepId, step] of draft.steps) stepsById.set(stepId, step);
    draft = new RunDraft(runId, draft.run, readerOf(stepsById));
    at += 1;
    const completed = { eventType: 'step_completed', correlationId: `step_${index}`, eventData: { output: index } };
    draft.apply(completed, nextCommitStamp(draft.run, at));
    if (index + 1 < steps) draft.apply(created(index + 1), nextCommitStamp(draft.run, at));
  }
}

for (let index = 0; index < runs / 5; index++) draftRun();
for (let round = 0; round < 3; round++) {
  const started = performance.now();
  for (let index = 0; index < runs; index++) draftRun();
  const microseconds = ((performance.now() - started) * 1000) / runs / steps;
  console.log(`${microseconds.toFixed(2)} µs per step (its completion and the next step's creation drafted)`);
}
