import { AsyncLocalStorage } from 'node:async_hooks';
import { NotInWorkflowError } from '../errors/not-in-workflow-error.js';
import type { WorkflowReplay } from './replay.js';
import type { StepContext } from './streams.js';

/**
 * What the code running now belongs to: workflow code of a replay, in an id scope ('' at the
 * top of a workflow, `map#0.5` inside item 5 of the first `map`), or a step body. Correlation
 * ids include the scope, so an item's steps keep their ids whatever order the items finish in.
 */
type ExecutionContext =
  | { readonly replay: WorkflowReplay; readonly idScope: string; readonly step?: undefined }
  | { readonly step: StepContext; readonly replay?: undefined; readonly idScope?: undefined };

/**
 * One store for all three, on purpose. Workflow code runs inside `runWorkflowCode`, and
 * every promise continuation it creates inherits that, so `step()`, `sleep()`, `Date.now()`
 * and friends know which run they serve without any global "current run". Step bodies run
 * inside `runStepBody`, which leaves the replay behind, so they behave as ordinary code.
 *
 * On Node 20 every enabled `AsyncLocalStorage` copies its store onto every promise the
 * process creates, the World's and the database driver's included; with one store for
 * the replay, the id scope and the step instead of one each, a warm run of sequential
 * steps spends measurably less of the worker's CPU on it.
 */
const executionContext = new AsyncLocalStorage<ExecutionContext>();

export function currentReplay(): WorkflowReplay | undefined {
  return executionContext.getStore()?.replay;
}

/** The running replay; throws `NotInWorkflowError` naming `api` when there is none. */
export function requireReplay(api: string): WorkflowReplay {
  const replay = executionContext.getStore()?.replay;
  if (!replay) throw new NotInWorkflowError({ api });
  return replay;
}

/** The id scope of the workflow code running now; '' at the top of a workflow and outside one. */
export function currentIdScope(): string {
  return executionContext.getStore()?.idScope ?? '';
}

/** The step body running now, if any. */
export function currentStepContext(): StepContext | undefined {
  return executionContext.getStore()?.step;
}

/** Runs `fn` as workflow code of `replay`, at the top scope. */
export function runWorkflowCode<Result>(replay: WorkflowReplay, fn: () => Result): Result {
  return executionContext.run({ replay, idScope: '' }, fn);
}

/** Runs `fn` as workflow code of `replay` in id scope `idScope` (an item of a `map`). */
export function runInIdScope<Result>(replay: WorkflowReplay, idScope: string, fn: () => Result): Result {
  return executionContext.run({ replay, idScope }, fn);
}

/** Runs `fn` as a step body: outside any replay, with `step` as its context. */
export function runStepBody<Result>(step: StepContext, fn: () => Result): Result {
  return executionContext.run({ step }, fn);
}
