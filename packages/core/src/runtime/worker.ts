import type { WorkflowDefinition } from '../workflow/definitions.js';
import { stepRegistry } from '../workflow/definitions.js';
import { installDeterminism } from '../workflow/determinism.js';
import { EntityConflictError } from '../world/errors/entity-conflict-error.js';
import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import { RunTerminalError } from '../world/errors/run-terminal-error.js';
import type { QueueMessage } from '../world/schemas/queue.js';
import type { QueueConsumer, World } from '../world/world.js';
import { Orchestrator } from './orchestrator.js';
import { runStepAttempt } from './step-executor.js';
import { type StepMessage, stepTopic, type WakeMessage, workflowTopic } from './topics.js';

export interface WorkerOptions {
  world: World;
  // biome-ignore lint/suspicious/noExplicitAny: workflows of any input and output type are accepted.
  workflows: readonly WorkflowDefinition<any, any>[];
  /** Runs orchestrated at once, and steps executed at once. Default 10. */
  concurrency?: number;
  /**
   * One orchestrator per run at a time (the queue's group key) and warm replays. Default
   * true. `false` lets several orchestrations of one run race; the fences alone then keep
   * the log correct, which is what tests use it to prove.
   */
  runLease?: boolean;
  /** Lease on an orchestration message; a pass that runs longer may be repeated elsewhere. Default 5 min. */
  orchestrationLeaseMs?: number;
  /**
   * Where the worker reports work that failed and will be retried (a World outage, an
   * unknown workflow). Nothing is lost either way; this is for operators. Default: silent.
   */
  logger?: { warn(message: string, details: Record<string, unknown>): void };
}

export interface Worker {
  /** Starts consuming and re-enqueues every run that is not terminal, so nothing is lost across restarts. */
  start(): Promise<void>;
  /** Stops taking work and waits for in-flight passes and steps; unfinished runs stay queued for the next worker. */
  stop(): Promise<void>;
}

function semaphore(size: number) {
  let free = size;
  return {
    tryAcquire: () => {
      if (free === 0) return false;
      free -= 1;
      return true;
    },
    release: () => {
      free++;
    },
    available: () => free,
  };
}

export function createWorker(options: WorkerOptions): Worker {
  const { world, concurrency = 10, runLease = true, orchestrationLeaseMs = 5 * 60_000 } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidInputError({ field: 'concurrency', value: concurrency, reason: 'must be a whole number ≥ 1' });
  }
  const workflows = new Map<string, WorkflowDefinition>();
  for (const definition of options.workflows) {
    if (definition?.kind !== 'cairn.workflow') {
      throw new InvalidInputError({
        field: 'workflows',
        value: definition,
        reason: 'must hold values made by workflow()',
      });
    }
    workflows.set(definition.name, definition);
  }
  installDeterminism();
  const orchestrator = new Orchestrator({ world, workflows, runLease, stepSlots: semaphore(concurrency) });
  const stepSlots = semaphore(concurrency);
  let consumers: QueueConsumer[] = [];
  /** Runs a handler; a failure is reported, then rethrown so the queue redelivers the message. */
  const report = async (what: string, message: QueueMessage, handler: () => Promise<void>) => {
    try {
      await handler();
    } catch (error) {
      options.logger?.warn(`${what}; the message will be redelivered`, {
        payload: message.payload,
        attempt: message.attempt,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
      throw error;
    }
  };

  const executeQueuedStep = async ({ runId, stepId }: StepMessage) => {
    const step = await world.steps.get(runId, stepId);
    if (step.status === 'completed' || step.status === 'failed') return;
    const definition = stepRegistry.get(step.stepName);
    if (!definition) throw new Error(`Step "${step.stepName}" is not defined in this worker`);
    while (!stepSlots.tryAcquire()) await new Promise((resolve) => setTimeout(resolve, 5));
    let outcome: Awaited<ReturnType<typeof runStepAttempt>>;
    try {
      outcome = await runStepAttempt(
        definition,
        { stepId, input: step.input, retries: step.retries },
        { world, runId },
        Date.now,
      );
    } finally {
      stepSlots.release();
    }
    try {
      await world.events.create(runId, outcome);
    } catch (error) {
      if (!EntityConflictError.is(error) && !RunTerminalError.is(error)) throw error;
    }
    await orchestrator.sendWake(runId);
  };

  return {
    async start() {
      consumers = [
        world.queue.consume(
          workflowTopic,
          (message) =>
            report('orchestration pass failed', message, () =>
              orchestrator.wake((message.payload as unknown as WakeMessage).runId),
            ),
          {
            concurrency,
            leaseMs: orchestrationLeaseMs,
          },
        ),
        world.queue.consume(
          stepTopic,
          (message) =>
            report('queued step failed', message, () => executeQueuedStep(message.payload as unknown as StepMessage)),
          {
            concurrency,
            leaseMs: orchestrationLeaseMs,
          },
        ),
      ];
      // Recovery (DESIGN §4.9): every run that is not terminal gets a wake.
      for (const status of ['pending', 'running'] as const) {
        let cursor: string | undefined;
        do {
          const page = await world.runs.list({ status, limit: 500, ...(cursor === undefined ? {} : { cursor }) });
          for (const run of page.data) if (workflows.has(run.workflowName)) await orchestrator.sendWake(run.runId);
          cursor = page.cursor ?? undefined;
        } while (cursor !== undefined);
      }
    },
    async stop() {
      await Promise.all(consumers.map((consumer) => consumer.stop()));
      consumers = [];
      orchestrator.clear();
    },
  };
}
