import { childRunId, childStepPrefix } from '../workflow/reserved-names.js';
import { RunNotFoundError } from '../world/errors/run-not-found-error.js';
import type { Run, RunWaiting } from '../world/schemas/entities.js';
import type { World } from '../world/world.js';

/** A descendant run that a run waits on, and why that one has not started. */
export interface WaitingChild {
  runId: string;
  workflowName: string;
  /** The run that started it: the run asked about, or a descendant of it. */
  parentRunId: string;
  waiting: RunWaiting;
}

/** How deep below the run the search goes, and how many answers it gives at most. */
const maxDepth = 10;
const maxFound = 100;

/**
 * The open child runs (and their open children, down to 10 levels) of `runId` whose own
 * view says why they wait (`Run.waiting`): a parent blocked on a child whose workflow no
 * worker has shows the child's reason through this. A read-side join, so a parent's log and
 * view stay the parent's own. Empty for a run that waits on no such child. Reads each open
 * child's steps, so it costs one list per run on the way down; at most 100 answers.
 */
export async function findWaitingChildren(world: World, runId: string): Promise<WaitingChild[]> {
  const found: WaitingChild[] = [];
  const visit = async (parentRunId: string, depth: number): Promise<void> => {
    let cursor: string | undefined;
    do {
      const page = await world.steps.list(parentRunId, { limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
      for (const step of page.data) {
        if (found.length >= maxFound) return;
        if (!step.stepName.startsWith(childStepPrefix)) continue;
        if (step.status === 'completed' || step.status === 'failed') continue;
        const childId = childRunId(parentRunId, step.stepId);
        let child: Run;
        try {
          child = await world.runs.get(childId);
        } catch (error) {
          // Not created yet: the parent's worker creates it on its next pass.
          if (RunNotFoundError.is(error)) continue;
          throw error;
        }
        if (child.waiting) {
          found.push({ runId: child.runId, workflowName: child.workflowName, parentRunId, waiting: child.waiting });
        } else if (child.status === 'running' && depth < maxDepth) {
          await visit(child.runId, depth + 1);
        }
      }
      cursor = page.cursor ?? undefined;
    } while (cursor !== undefined);
  };
  await visit(runId, 1);
  return found;
}
