import { AsyncLocalStorage } from 'node:async_hooks';
import { NotInWorkflowError } from '../errors/not-in-workflow-error.js';
import type { WorkflowReplay } from './replay.js';

/**
 * The replay a piece of code belongs to. Workflow code runs inside `workflowContext.run`,
 * and every promise continuation it creates inherits that, so `step()`, `sleep()`,
 * `Date.now()` and friends know which run they serve without any global "current run".
 * Step bodies are started outside it, so they behave as ordinary code.
 */
export const workflowContext = new AsyncLocalStorage<WorkflowReplay>();

export function currentReplay(): WorkflowReplay | undefined {
  return workflowContext.getStore();
}

/** The running replay; throws `NotInWorkflowError` naming `api` when there is none. */
export function requireReplay(api: string): WorkflowReplay {
  const replay = workflowContext.getStore();
  if (!replay) throw new NotInWorkflowError({ api });
  return replay;
}

/**
 * The id scope of the code running now: '' at the top of a workflow, `map#0.5` inside item
 * 5 of the first `map`. Correlation ids include it, so an item's steps keep their ids
 * whatever order the items finish in.
 */
export const idScope = new AsyncLocalStorage<string>();

export function currentIdScope(): string {
  return idScope.getStore() ?? '';
}
