import { type ReplayVerdict, replayEvents, type WorkflowDefinition } from '@cairn/core';
import { InvalidInputError, type World, type WorldEvent } from '@cairn/core/world';

/** A run's log as a JSON document: what `exportRun` writes and `checkReplay` reads. */
export interface RecordedRun {
  format: 'cairn.run-log';
  version: 1;
  runId: string;
  workflowName: string;
  events: WorldEvent[];
}

/** Reads a run's whole log into a `RecordedRun`, ready for `JSON.stringify`. Throws `RunNotFoundError`. */
export async function exportRun(world: World, runId: string): Promise<RecordedRun> {
  const run = await world.runs.get(runId);
  const events: WorldEvent[] = [];
  for (let hasMore = true; hasMore; ) {
    const page = await world.events.list(runId, { afterSeq: events.length, limit: 1000 });
    events.push(...page.data);
    hasMore = page.hasMore;
  }
  return { format: 'cairn.run-log', version: 1, runId, workflowName: run.workflowName, events };
}

/**
 * Replays a recorded run (an object, or its JSON text) against `workflow`, with no World
 * and no worker. Resolves with the verdict: `completed` with the output the new code
 * computes, `failed`, `waiting` (the log ends with the run still open), or `diverged` with
 * the `ReplayDivergenceError` that says where the new code departs from the log. Throws
 * `InvalidInputError` when the document is not a recorded run or is of another workflow.
 */
export async function checkReplay<Input, Output>(
  workflow: WorkflowDefinition<Input, Output>,
  recorded: RecordedRun | string,
): Promise<ReplayVerdict> {
  const document = typeof recorded === 'string' ? parse(recorded) : recorded;
  if (document?.format !== 'cairn.run-log' || document.version !== 1 || !Array.isArray(document.events)) {
    throw new InvalidInputError({
      field: 'recorded',
      value: recorded,
      reason: 'must be a run log made by exportRun (format "cairn.run-log", version 1)',
    });
  }
  if (document.workflowName !== workflow.name) {
    throw new InvalidInputError({
      field: 'recorded.workflowName',
      value: document.workflowName,
      reason: `must be the workflow being checked, "${workflow.name}"`,
    });
  }
  return replayEvents(workflow, document.events);
}

function parse(text: string): RecordedRun {
  try {
    return JSON.parse(text) as RecordedRun;
  } catch (error) {
    throw new InvalidInputError({ field: 'recorded', value: text.slice(0, 100), reason: `is not JSON (${error})` });
  }
}
