import type { WorkflowDefinition } from '../workflow/definitions.js';
import { FenceConflictError } from '../world/errors/fence-conflict-error.js';
import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import { WorldClosedError } from '../world/errors/world-closed-error.js';
import { WorldCorruptedError } from '../world/errors/world-corrupted-error.js';
import { WorldUnavailableError } from '../world/errors/world-unavailable-error.js';
import type { Run } from '../world/schemas/entities.js';
import type { World } from '../world/world.js';
import { LeaseLostError } from './lease.js';
import type { CompleteLogger, Logger } from './logger.js';
import { SpeculationRefused } from './write-refusals.js';

/**
 * Where a worker reports what an operator should know.
 * @deprecated Use `Logger`, which adds the levels `debug`, `info` and `error`; a `{ warn }`
 * object is a `Logger` too.
 */
export type WorkerLogger = Logger;

const describeDefinition = (index: number, definition: WorkflowDefinition) =>
  `workflows[${index}] (function ${definition.fn.name ? `"${definition.fn.name}"` : 'anonymous'})`;

/**
 * The worker's workflows by name. Two different definitions with one name are refused,
 * naming both: otherwise one would silently shadow the other, and runs started for the
 * hidden one would execute the wrong code. The same definition listed twice is harmless.
 */
export function indexWorkflows(definitions: readonly WorkflowDefinition[]): Map<string, WorkflowDefinition> {
  if (!Array.isArray(definitions)) {
    throw new InvalidInputError({ field: 'workflows', value: definitions, reason: 'must be an array of workflows' });
  }
  const byName = new Map<string, { definition: WorkflowDefinition; index: number }>();
  definitions.forEach((definition, index) => {
    if (definition?.kind !== 'cairn.workflow') {
      throw new InvalidInputError({
        field: 'workflows',
        value: definition,
        reason: 'must hold values made by workflow()',
      });
    }
    const earlier = byName.get(definition.name);
    if (earlier && earlier.definition !== definition) {
      throw new InvalidInputError({
        field: `workflows[${index}].name`,
        value: definition.name,
        reason: `names two different workflows, ${describeDefinition(earlier.index, earlier.definition)} and ${describeDefinition(index, definition)}; a name must belong to one workflow, so rename one`,
      });
    }
    if (!earlier) byName.set(definition.name, { definition, index });
  });
  return new Map([...byName].map(([name, { definition }]) => [name, definition]));
}

/** Runs remembered so each gets one warning; beyond this many, the memory starts over. */
const maxRemembered = 10_000;

/** Names a run_waiting carries (the event allows 100), and how many its message lists. */
const maxReportedWorkflows = 100;
const maxListedWorkflows = 10;

/**
 * Records on a pending run why this worker cannot start it, so the run's view (the client,
 * `cairn runs get`, the dashboard) says so. Fenced on the tail the worker read: if the run
 * moved meanwhile (started, ended, or another worker reported first), the World refuses
 * and this gives up, since the note is advisory and a stale one would mislead.
 */
async function reportWaiting(world: World, run: Run, workflows: readonly string[]): Promise<void> {
  if (run.status !== 'pending') return;
  const listed = workflows.slice(0, maxListedWorkflows).map((name) => `"${name}"`);
  const more = workflows.length > listed.length ? ` and ${workflows.length - listed.length} more` : '';
  const has = listed.length === 0 ? 'none' : `${listed.join(', ')}${more}`;
  const child = run.parentRunId === undefined ? '' : ` Its parent run ${run.parentRunId} waits for it.`;
  const message =
    `No worker that took this run has workflow "${run.workflowName}" (the last to try has: ${has}).${child} ` +
    `It starts once a worker with "${run.workflowName}" in createWorker({ workflows }) takes it.`;
  try {
    await world.events.create(
      run.runId,
      {
        eventType: 'run_waiting',
        eventData: {
          reason: 'workflow-not-registered',
          message,
          workerWorkflows: workflows.slice(0, maxReportedWorkflows),
        },
      },
      { lastKnownEventId: run.lastEventId },
    );
  } catch {
    // Refused (the run moved on) or the World is out of reach: the warning still went out.
  }
}

/**
 * Explains a failed orchestration pass when the cause is a run of a workflow this worker
 * does not have: warns once per run, naming the workflow and the ones the worker has, and
 * records the same on the run (`run_waiting`, shown as `Run.waiting`) while it is pending.
 * The message is still redelivered (with the queue's backoff), so a worker that has the
 * workflow can pick it up, and the run stays pending meanwhile.
 */
export function unknownWorkflowNotice(
  world: World,
  workflows: ReadonlyMap<string, WorkflowDefinition>,
  logger: CompleteLogger,
) {
  const warned = new Set<string>();
  /** True when the failure was explained (and so needs no generic warning). */
  return async (runId: string): Promise<boolean> => {
    let run: Run;
    try {
      run = await world.runs.get(runId);
    } catch {
      return false;
    }
    if (workflows.has(run.workflowName)) return false;
    if (warned.has(runId)) return true;
    if (warned.size >= maxRemembered) warned.clear();
    warned.add(runId);
    const known = [...workflows.keys()].map((name) => `"${name}"`).join(', ') || 'none';
    const child =
      run.parentRunId === undefined ? '' : `, a child started by run ${run.parentRunId} (which waits for it),`;
    await reportWaiting(world, run, [...workflows.keys()]);
    logger.warn(
      `Run ${runId}${child} is of workflow "${run.workflowName}", which this worker does not have (it has: ${known}). ` +
        `The run stays ${run.status} until a worker that has "${run.workflowName}" takes it: add it to createWorker({ workflows }).`,
      {
        runId,
        workflowName: run.workflowName,
        status: run.status,
        workflows: [...workflows.keys()],
        ...(run.parentRunId === undefined ? {} : { parentRunId: run.parentRunId }),
      },
    );
    return true;
  };
}

/** Options of `worker.stopOnSignals`. */
export interface StopOnSignalsOptions {
  /** Default `['SIGINT', 'SIGTERM']`. */
  signals?: readonly NodeJS.Signals[];
  /** Runs after the worker has stopped, before the exit: close the World here. */
  onStopped?: () => void | Promise<void>;
  /** Exit the process once stopped: code 0, or 1 if stopping failed. Default true. */
  exit?: boolean;
}

export function installSignalHandlers(
  stop: () => Promise<void>,
  options: StopOnSignalsOptions,
  logger: CompleteLogger,
): () => void {
  const { signals = ['SIGINT', 'SIGTERM'], onStopped, exit = true } = options;
  const remove = () => {
    for (const signal of signals) process.off(signal, onSignal);
  };
  function onSignal(signal: NodeJS.Signals) {
    // Only the first signal stops gracefully; with the handlers gone, a second one gets
    // Node's default and ends the process at once, for an operator who will not wait.
    remove();
    void (async () => {
      let code = 0;
      try {
        await stop();
        await onStopped?.();
      } catch (error) {
        code = 1;
        logger.error(`stopping on ${signal} failed`, {
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
      }
      if (exit) process.exit(code);
    })();
  }
  for (const signal of signals) process.on(signal, onSignal);
  return remove;
}

/** From this delivery on, a message that keeps failing for a transient reason is worth a warning. */
export const persistentFailureAttempt = 5;

/**
 * The level at which a failed delivery is logged. Contention (a fence another writer won, a
 * refused speculative batch, a lost lease, a World closing under a stopping worker) is the
 * engine working as designed: debug. A World that could not be reached is a blip the
 * redelivery retries: info. Either becomes a warning once the same message has failed
 * `persistentFailureAttempt` deliveries in a row, since by then something needs a look. A
 * World reporting corrupted data is an error; anything else unexpected is a warning.
 */
export function failureLevel(error: unknown, attempt: number): 'debug' | 'info' | 'warn' | 'error' {
  if (WorldCorruptedError.is(error)) return 'error';
  const contention =
    FenceConflictError.is(error) ||
    error instanceof SpeculationRefused ||
    error instanceof LeaseLostError ||
    WorldClosedError.is(error);
  const transient = contention || WorldUnavailableError.is(error);
  if (!transient || attempt >= persistentFailureAttempt) return 'warn';
  return contention ? 'debug' : 'info';
}
