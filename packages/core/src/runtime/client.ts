import { ulid } from 'ulid';
import { RunFailedError } from '../errors/run-failed-error.js';
import type { WorkflowDefinition } from '../workflow/definitions.js';
import { installDeterminism } from '../workflow/determinism.js';
import { decode, encode } from '../workflow/serialization.js';
import { EntityConflictError } from '../world/errors/entity-conflict-error.js';
import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import type { Run, RunStatus } from '../world/schemas/entities.js';
import type { WorldEvent } from '../world/schemas/events.js';
import type { ListRunsOptions, Page, World } from '../world/world.js';
import { cancelRunTree } from './cancel.js';
import { workflowTopic } from './topics.js';

/** A handle on one run. Cheap to create; every method reads the World. */
export interface RunHandle<Output = unknown> {
  readonly id: string;
  status(): Promise<RunStatus>;
  /**
   * Waits for a terminal status: resolves with the output, or rejects with
   * `RunFailedError` carrying the recorded failure (or the cancellation). Uses the World's
   * `events.watch`, so it does not busy-poll where the World can push.
   */
  result(options?: { signal?: AbortSignal }): Promise<Output>;
  /** The run's whole log, in order. */
  events(): Promise<WorldEvent[]>;
  /**
   * Chunks of one of the run's streams (default `'default'`), from `fromIndex` (negative
   * counts back from the tail), following live until the stream closes, which it does when
   * the run ends. Text chunks come back as strings, binary ones as Uint8Array.
   */
  readable(name?: string, options?: { fromIndex?: number; signal?: AbortSignal }): AsyncIterable<string | Uint8Array>;
}

export interface Client {
  /** Starts a run; with `id`, starting again returns the same run instead of a second one. */
  start<Input, Output>(
    workflow: WorkflowDefinition<Input, Output>,
    input: Input,
    options?: { id?: string },
  ): Promise<RunHandle<Output>>;
  /** Throws `RunNotFoundError`. */
  getRun<Output = unknown>(id: string): Promise<RunHandle<Output>>;
  listRuns(filter?: ListRunsOptions): Promise<Page<Run>>;
  /** Delivers a payload to the live hook holding `token`. Throws `HookNotFoundError`. */
  resumeHook(token: string, payload?: unknown): Promise<{ runId: string; hookId: string }>;
  /** Cancels a run that has not ended, and its open children; resolves with the run as it ends up. */
  cancel(runId: string, reason?: string): Promise<Run>;
}

export function createClient({ world, runLease = true }: { world: World; runLease?: boolean }): Client {
  installDeterminism();
  const wakeMessage = (runId: string) => ({
    topic: workflowTopic,
    payload: { runId },
    ...(runLease ? { options: { groupKey: runId } } : {}),
  });
  const wake = (runId: string) => {
    const { topic, payload, options } = wakeMessage(runId) as {
      topic: string;
      payload: { runId: string };
      options?: { groupKey: string };
    };
    return world.queue.send(topic, payload, options);
  };

  const handle = <Output>(id: string): RunHandle<Output> => ({
    id,
    status: async () => (await world.runs.get(id)).status,
    result: async (options = {}) => {
      for (;;) {
        const run = await world.runs.get(id);
        if (run.status === 'completed') return decode(run.output) as Output;
        if (run.status === 'failed' || run.status === 'cancelled') {
          throw new RunFailedError({
            runId: id,
            status: run.status,
            ...(run.error
              ? { failure: run.error }
              : run.cancelReason
                ? { failure: { name: 'Cancelled', message: run.cancelReason } }
                : {}),
          });
        }
        options.signal?.throwIfAborted();
        await world.events.watch(id, run.lastSeq, options.signal);
      }
    },
    readable: (name = 'default', options = {}) => {
      const chunks = world.streams.read(id, name, options);
      return {
        async *[Symbol.asyncIterator]() {
          for await (const chunk of chunks) yield chunk.data;
        },
      };
    },
    events: async () => {
      const events: WorldEvent[] = [];
      for (let hasMore = true; hasMore; ) {
        const page = await world.events.list(id, { afterSeq: events.length, limit: 1000 });
        events.push(...page.data);
        hasMore = page.hasMore;
      }
      return events;
    },
  });

  return {
    async start(workflow, input, options = {}) {
      if (workflow?.kind !== 'cairn.workflow') {
        throw new InvalidInputError({
          field: 'workflow',
          value: workflow,
          reason: 'must be a value made by workflow()',
        });
      }
      const request = {
        eventType: 'run_created' as const,
        eventData: { workflowName: workflow.name, input: encode(input, 'workflow input') },
      };
      // The id is minted here when the caller gave none, so the wake always rides in the
      // same append as the run (the outbox): a run can never exist without its first wake.
      let runId = options.id ?? ulid();
      try {
        await world.events.create(runId, request, { enqueue: [wakeMessage(runId)] });
      } catch (error) {
        if (!EntityConflictError.is(error) || options.id === undefined) throw error;
        const existing = await world.runs.get(options.id);
        if (existing.workflowName !== workflow.name) {
          throw new InvalidInputError({
            field: 'options.id',
            value: options.id,
            reason: `is already the id of a run of workflow "${existing.workflowName}"`,
          });
        }
        // Same id, same workflow: the caller is retrying a start. Wake it in case the first
        // start was made by a version that queued its wake separately.
        runId = existing.runId;
        await wake(runId);
      }
      return handle(runId);
    },
    async getRun(id) {
      await world.runs.get(id);
      return handle(id);
    },
    listRuns: (filter) => world.runs.list(filter),
    async resumeHook(token, payload) {
      const hook = await world.hooks.getByToken(token);
      // The delivery and the wake that makes the run see it commit together.
      await world.events.create(
        hook.runId,
        {
          eventType: 'hook_received',
          correlationId: hook.hookId,
          eventData: { payload: encode(payload, 'hook payload') },
        },
        { enqueue: [wakeMessage(hook.runId)] },
      );
      return { runId: hook.runId, hookId: hook.hookId };
    },
    cancel: (runId, reason) => cancelRunTree(world, runId, reason),
  };
}
