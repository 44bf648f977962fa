import { RunIdConflictError } from '../errors/run-id-conflict-error.js';
import type { WorkflowDefinition } from '../workflow/definitions.js';
import { installDeterminism } from '../workflow/determinism.js';
import { encode } from '../workflow/serialization.js';
import { EntityConflictError } from '../world/errors/entity-conflict-error.js';
import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import type { Hook, Run } from '../world/schemas/entities.js';
import { isTerminalRunStatus } from '../world/schemas/entities.js';
import { ulid } from '../world/ulid.js';
import type { EnqueueRequest, ListRunsOptions, Page, WatchedTail, World } from '../world/world.js';
import { cancelRunTree } from './cancel.js';
import { claimedWake, type PassHost, passHostFor } from './claimed-passes.js';
import { rememberClientAppend } from './client-appends.js';
import { appendFromClient } from './client-stamps.js';
import { sameJson, waitForToken } from './client-waits.js';
import { deliverToHook } from './hook-delivery.js';
import { type RunHandle, runHandle } from './run-handle.js';
import { workflowTopic } from './topics.js';
import { startRunSpan, traceMetadataKey } from './tracing.js';

export type { RunHandle } from './run-handle.js';

/**
 * What `start` does when a run with the requested id already exists (of the same workflow;
 * another workflow's id is always `InvalidInputError`):
 * - `'return-existing'`: return the existing run, whatever its input. Starting is then
 *   idempotent, so a caller may retry a start whose answer it lost.
 * - `'error-on-different-input'`: return the existing run only if its input is the one
 *   given (compared after serialisation); otherwise throw `RunIdConflictError`.
 */
export type StartConflictPolicy = 'return-existing' | 'error-on-different-input';

export interface StartOptions {
  /** The run's id, which makes the start idempotent. Default: a fresh id minted by the World. */
  id?: string;
  /** Overrides the client's `onConflict` for this start. */
  onConflict?: StartConflictPolicy;
}

/** Options of `resumeHook` and `waitForHook`. */
export interface HookWaitOptions {
  /**
   * How long to wait for a live hook holding the token, in milliseconds: a whole number
   * ≥ 0, or Infinity. Default 60 000. `0` looks once and does not wait.
   */
  timeoutMs?: number;
  /** Aborts the wait; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of `resumeHook`. */
export interface ResumeHookOptions extends HookWaitOptions {
  /**
   * Identifies this delivery. A caller that may send it again (a retry after an error,
   * perhaps from another process) passes the same id every time: a delivery whose id the
   * run already holds for the token (on this hook, or on an earlier one the run created
   * with the same token) is not written again, and the call resolves as the first did. A
   * run that ended and left the token to another run is not searched. An id is unique
   * within its run on a World with `capabilities.uniqueDeliveryIds` (every World in this
   * repository): the World refuses a repeat, so nothing is read first, and an id the run
   * holds for a hook with another token throws `DuplicateDeliveryError` naming that hook.
   * On any other World the log is read before the first append to find out, from its start.
   * A non-empty string of at most 128 characters, otherwise `InvalidInputError` naming
   * `options.deliveryId`. Default: a fresh id per call, which makes the call's own retries
   * safe but not a second call's.
   */
  deliveryId?: string;
}

export interface Client {
  /**
   * Starts a run. With `id`, starting again returns the same run instead of a second one;
   * see `StartConflictPolicy` for what happens when the input differs (by default the
   * existing run is returned and the new input is ignored).
   */
  start<Input, Output>(
    workflow: WorkflowDefinition<Input, Output>,
    input: Input,
    options?: StartOptions,
  ): Promise<RunHandle<Output>>;
  /** Throws `RunNotFoundError`. */
  getRun<Output = unknown>(id: string): Promise<RunHandle<Output>>;
  listRuns(filter?: ListRunsOptions): Promise<Page<Run>>;
  /**
   * Delivers a payload to the live hook holding `token`, exactly once. A hook that does not
   * exist yet is waited for, so a resume sent right after `start` reaches the workflow once
   * it creates the hook: it waits up to `options.timeoutMs` (default 60 s) and then throws
   * `HookWaitTimeoutError` (a `HookNotFoundError`) naming the token and the wait, having
   * delivered nothing.
   * `timeoutMs: 0` delivers only to a hook that exists now. The delivery itself is one
   * append; if the hook is disposed between the lookup and the append, the next live
   * holder of the token is waited for, within the same timeout.
   *
   * Each delivery carries an id (`options.deliveryId`, or a fresh one) in its event. When
   * the World fails with a retryable error (unreachable, connection lost), the append may
   * have committed anyway, so the call does not write it twice: a World that keeps delivery
   * ids unique refuses the repeat (`DuplicateDeliveryError`), which the call takes as "it
   * landed"; on another World it reads the run's log for its id and resolves if it is there,
   * and otherwise appends again fenced on what it read. It keeps at it, backing off, for
   * `options.timeoutMs` after the first such error
   * (default 30 s; at least one more try), then throws the last error. After that error the
   * delivery may or may not have landed; a caller that will retry should pass a
   * `deliveryId` of its own, so the retry cannot deliver twice.
   */
  resumeHook(token: string, payload?: unknown, options?: ResumeHookOptions): Promise<{ runId: string; hookId: string }>;
  /**
   * Resolves with the live hook holding `token` as soon as one exists (at once if one
   * does), without delivering anything. Throws `HookWaitTimeoutError` after
   * `options.timeoutMs` (default 60 s).
   */
  waitForHook(token: string, options?: HookWaitOptions): Promise<Hook>;
  /** Cancels a run that has not ended, and its open children; resolves with the run as it ends up. */
  cancel(runId: string, reason?: string): Promise<Run>;
}

export interface ClientOptions {
  world: World;
  /** Wakes carry the run's group key, as workers expect by default. Default true. */
  runLease?: boolean;
  /** What `start` does with an id that is taken; see `StartConflictPolicy`. Default `'return-existing'`. */
  onConflict?: StartConflictPolicy;
}

const conflictPolicies: readonly StartConflictPolicy[] = ['return-existing', 'error-on-different-input'];

function checkConflictPolicy(value: unknown, field: string): StartConflictPolicy {
  if (!conflictPolicies.includes(value as StartConflictPolicy)) {
    throw new InvalidInputError({
      field,
      value,
      reason: `must be one of ${conflictPolicies.map((policy) => `'${policy}'`).join(', ')}`,
    });
  }
  return value as StartConflictPolicy;
}

export function createClient({ world, runLease = true, onConflict = 'return-existing' }: ClientOptions): Client {
  checkConflictPolicy(onConflict, 'onConflict');
  installDeterminism();
  /** The run's wake; `claimFor` a host here that takes the pass, so it is queued leased to it. */
  const wakeMessage = (runId: string, claimFor?: PassHost): EnqueueRequest => {
    const message = { topic: workflowTopic, payload: { runId }, ...(runLease ? { options: { groupKey: runId } } : {}) };
    return claimFor === undefined ? message : claimedWake(message, claimFor);
  };
  const wake = (runId: string) => {
    const { topic, payload, options } = wakeMessage(runId);
    return world.queue.send(topic, payload, options);
  };

  return {
    async start(workflow, input, options = {}) {
      if (workflow?.kind !== 'cairn.workflow') {
        throw new InvalidInputError({
          field: 'workflow',
          value: workflow,
          reason: 'must be a value made by workflow()',
        });
      }
      const policy =
        options.onConflict === undefined ? onConflict : checkConflictPolicy(options.onConflict, 'options.onConflict');
      const encodedInput = encode(input, 'workflow input');
      // The id is minted here when the caller gave none, so the wake always rides in the
      // same append as the run (the outbox): a run can never exist without its first wake.
      let runId = options.id ?? ulid();
      // The start is the root of the run's trace; its context is stored with the run so
      // every later span, in any worker process, joins the same trace.
      const { span, carrier } = startRunSpan(workflow.name, runId);
      const request = {
        eventType: 'run_created' as const,
        eventData: {
          workflowName: workflow.name,
          input: encodedInput,
          ...(carrier === undefined ? {} : { metadata: { [traceMetadataKey]: carrier } }),
        },
      };
      let created: WatchedTail | undefined;
      // A worker of this World in this process that runs the workflow takes the first pass
      // itself, on a wake queued already leased to it (claimed-passes.ts).
      const host = passHostFor(world);
      const claimed = host?.takesWorkflow(workflow.name) === true;
      // The claimed wakes sent, handed back if their append throws (claimed-passes.ts).
      const claimedWakes: EnqueueRequest[] = [];
      const claimedWakeFor = (id: string) => {
        const message = wakeMessage(id, host);
        claimedWakes.push(message);
        return message;
      };
      try {
        // Where it can, that worker creates the run with its first pass's decisions in the
        // same append (first-pass.ts); a run that ends there is ready before start returns.
        const withFirstPass = claimed ? await host!.create(runId, request, claimedWakeFor(runId)) : undefined;
        const last = withFirstPass?.at(-1);
        if (last !== undefined) {
          const ended = isTerminalRunStatus(last.run.status);
          created = { lastSeq: last.event.seq, status: last.run.status, ...(ended ? { run: last.run } : {}) };
        } else {
          const { event, claims } = await appendFromClient(world, runId, request, {
            enqueue: [claimed ? claimedWakeFor(runId) : wakeMessage(runId)],
          });
          created = { lastSeq: event.seq, status: 'pending' };
          rememberClientAppend(world, event);
          if (claims?.[0] !== undefined) host!.run(runId, claims[0]);
        }
      } catch (error) {
        for (const wake of claimedWakes) host!.handBack(wake);
        if (!EntityConflictError.is(error) || options.id === undefined) throw error;
        const existing = await world.runs.get(options.id);
        if (existing.workflowName !== workflow.name) {
          throw new InvalidInputError({
            field: 'options.id',
            value: options.id,
            reason: `is already the id of a run of workflow "${existing.workflowName}"`,
          });
        }
        if (policy === 'error-on-different-input' && !sameJson(existing.input, encodedInput)) {
          throw new RunIdConflictError({ runId: existing.runId, workflowName: existing.workflowName });
        }
        // Same id, same workflow: the caller is retrying a start. Wake it in case the first
        // start was made by a version that queued its wake separately.
        runId = existing.runId;
        await wake(runId);
      } finally {
        span.end();
      }
      return runHandle(world, runId, created);
    },
    async getRun(id) {
      await world.runs.get(id);
      return runHandle(world, id);
    },
    listRuns: (filter) => world.runs.list(filter),
    resumeHook: (token, payload, options = {}) => deliverToHook(world, wakeMessage, token, payload, options),
    waitForHook: async (token, options = {}) => waitForToken(world, token, options).next(),
    cancel: (runId, reason) => cancelRunTree(world, runId, { reason, runLease }),
  };
}
