import type { WorkflowDefinition } from '../workflow/definitions.js';
import { installDeterminism } from '../workflow/determinism.js';
import type { Clock } from '../world/clock.js';
import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import type { QueueMessage } from '../world/schemas/queue.js';
import type { DeliveryControl, QueueConsumer, World } from '../world/world.js';
import { ClaimedPasses, claimedPassesPerUnitOfConcurrency, lendPasses } from './claimed-passes.js';
import { type Logger, resolveLogger } from './logger.js';
import { Orchestrator } from './orchestrator.js';
import { QueuedSteps } from './queued-steps.js';
import type { BeforeStepAttempt } from './step-executor.js';
import { StepSlots } from './step-slots.js';
import { type StepMessage, stepTopic, type WakeMessage, workflowTopic } from './topics.js';
import {
  failureLevel,
  indexWorkflows,
  installSignalHandlers,
  type StopOnSignalsOptions,
  unknownWorkflowNotice,
} from './worker-support.js';

export type { StopOnSignalsOptions, WorkerLogger } from './worker-support.js';

export interface WorkerOptions {
  world: World;
  /**
   * The workflows this worker runs. Names must be unique: two different definitions with
   * one name throw `InvalidInputError` naming both.
   */
  // biome-ignore lint/suspicious/noExplicitAny: workflows of any input and output type are accepted.
  workflows: readonly WorkflowDefinition<any, any>[];
  /**
   * Steps executed at once, and runs orchestrated at once from the queue. Default 10. Runs
   * that a client in this process starts or wakes (on the same World object, where the World
   * has queue claims) are orchestrated here without the queue, up to ten times this many at
   * once. Their steps share the same slots: a step is placed on the step queue, for any
   * worker, when no slot is free as its pass decides it, and otherwise waits here for one.
   */
  concurrency?: number;
  /**
   * One orchestrator per run at a time (the queue's group key) and warm replays. Default
   * true. `false` lets several orchestrations of one run race; the fences alone then keep
   * the log correct, which is what tests use it to prove.
   */
  runLease?: boolean;
  /**
   * Lease on an orchestration message. A pass renews it while it runs (where the World can
   * extend leases), so only a worker that stopped responding loses a run. Default 5 min.
   */
  orchestrationLeaseMs?: number;
  /**
   * This worker's clock, `systemClock` (the wall clock) by default. The engine judges every
   * due time on the World's clock, estimated from the `createdAt` stamps the World returns,
   * so a skewed worker clock is corrected for. A `Clock` also carries the engine's short
   * waits for a sleep or retry about to fall due, so a virtual clock shared with the World
   * (`@cairn/testing`) moves them too. A plain `() => number` is read with Node timers; tests
   * inject skew that way.
   */
  clock?: Clock | (() => number);
  /**
   * Called before each step attempt's body runs, with the run, step and attempt number; a
   * throw fails that attempt as if the body had thrown. Meant for fault injection in tests
   * (`@cairn/testing` uses it); default none.
   */
  beforeStepAttempt?: BeforeStepAttempt;
  /**
   * The least a speculative completion batch stamps its `createdAt` ahead of the clock, so
   * the commit lands after its stamp. Default 25 ms; it widens on its own while appends are
   * slow. 0 turns it off: batches are stamped at the clock and the margin never widens,
   * which a test on a virtual clock (standing still during an append) needs so a run's time
   * stays exactly on the test's clock. On a real clock, 0 costs a refused batch whenever an
   * append takes any time at all.
   */
  speculationMarginMs?: number;
  /**
   * Where the worker reports what operators should know: at `warn`, runs it cannot execute
   * because their workflow is not in `workflows` (once per run, naming the workflow and the
   * ones it has) and work that keeps failing; at `info`, its start and stop and a single
   * World outage; at `debug`, self-healing contention between workers. Nothing is lost
   * either way; failed work is redelivered. See `Logger` for the full rule. Default:
   * `createConsoleLogger()`, the console at `warn` (or `CAIRN_LOG_LEVEL`). `false` silences it.
   * Throws InvalidInputError for a value that is not a logger. Whatever the logger, a
   * pending run of a workflow the worker lacks also gets the reason recorded on it
   * (`Run.waiting`).
   */
  logger?: Logger | false;
}

export interface Worker {
  /**
   * Starts consuming and re-enqueues every run that is not terminal, so nothing is lost
   * across restarts. While started, the worker keeps the process alive (one ref'd timer),
   * so a script that only calls `start()` serves until `stop()`. Starting a started worker
   * does nothing.
   */
  start(): Promise<void>;
  /**
   * Stops taking work, aborts the signals of running step attempts, and waits for in-flight
   * passes and steps to finish and be recorded; unfinished runs stay queued for the next
   * worker. Then lets the process exit. Idempotent.
   */
  stop(): Promise<void>;
  /**
   * Opt-in graceful shutdown: on the first SIGINT or SIGTERM (or `options.signals`), stops
   * the worker, runs `options.onStopped` (close the World there), then exits the process
   * with code 0 (1 if stopping failed) unless `options.exit` is false. A second signal while
   * stopping is left to Node's default, which ends the process at once. Returns a function
   * that removes the handlers.
   */
  stopOnSignals(options?: StopOnSignalsOptions): () => void;
}

export function createWorker(options: WorkerOptions): Worker {
  const { world, concurrency = 10, runLease = true, orchestrationLeaseMs = 5 * 60_000 } = options;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new InvalidInputError({ field: 'concurrency', value: concurrency, reason: 'must be a whole number ≥ 1' });
  }
  const { speculationMarginMs } = options;
  if (speculationMarginMs !== undefined && (!Number.isInteger(speculationMarginMs) || speculationMarginMs < 0)) {
    throw new InvalidInputError({
      field: 'speculationMarginMs',
      value: speculationMarginMs,
      reason: 'must be a whole number of milliseconds ≥ 0',
    });
  }
  const workflows = indexWorkflows(options.workflows);
  const logger = resolveLogger(options.logger);
  const explainFailure = unknownWorkflowNotice(world, workflows, logger);
  installDeterminism();
  const orchestrator = new Orchestrator({
    world,
    workflows,
    runLease,
    stepSlots: new StepSlots(concurrency),
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...(options.beforeStepAttempt === undefined ? {} : { beforeStepAttempt: options.beforeStepAttempt }),
    ...(options.speculationMarginMs === undefined ? {} : { speculationMarginMs: options.speculationMarginMs }),
  });
  const queuedSteps = new QueuedSteps({
    world,
    recorder: orchestrator.recorder,
    slots: new StepSlots(concurrency),
    clock: orchestrator.clock,
    runLease,
    ...(options.beforeStepAttempt === undefined ? {} : { beforeStepAttempt: options.beforeStepAttempt }),
  });
  let consumers: QueueConsumer[] = [];
  /** A ref'd timer while started: queue consumers may hold no handle that keeps Node running. */
  let keepAlive: NodeJS.Timeout | undefined;
  /** Runs a handler; a failure is reported, then rethrown so the queue redelivers the message. */
  const report = async (
    what: string,
    message: Pick<QueueMessage, 'payload' | 'attempt'>,
    handler: () => Promise<void>,
    explain?: () => Promise<boolean>,
  ) => {
    try {
      await handler();
    } catch (error) {
      if (!(await explain?.()))
        logger[failureLevel(error, message.attempt)](`${what}; the message will be redelivered`, {
          payload: message.payload,
          attempt: message.attempt,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
      throw error;
    }
  };

  // Passes of runs that clients in this process start or wake, taken without the queue.
  const claimedPasses = new ClaimedPasses({
    world,
    orchestrator,
    workflows,
    leaseMs: orchestrationLeaseMs,
    limit: concurrency * claimedPassesPerUnitOfConcurrency,
    reportFailure: (runId, error) =>
      report(
        'orchestration pass failed',
        { payload: { runId }, attempt: 1 },
        () => Promise.reject(error),
        () => explainFailure(runId),
      ).catch(() => {}),
  });
  let takeBackPasses = () => {};

  /**
   * A pass for a wake the queue delivered. Where an append can acknowledge the delivery's
   * lease, the run holds it as it holds a claim, so the append that ends the run settles the
   * delivery in its own commit, and the consumer writes nothing more.
   */
  const consumedPass = async (runId: string, dueAt: number | undefined, delivery: DeliveryControl) => {
    const pass = () =>
      orchestrator.wake(runId, {
        ...(dueAt === undefined ? {} : { dueAt }),
        lease: { leaseMs: orchestrationLeaseMs, extend: () => delivery.extendLease(orchestrationLeaseMs) },
      });
    const claim = world.capabilities.queue.claims === true ? delivery.claim : undefined;
    if (claim === undefined) return pass();
    if (await orchestrator.recorder.claims.holdWhile(runId, claim, pass)) delivery.acknowledgedByAppend?.();
  };

  const worker: Worker = {
    async start() {
      if (keepAlive) return;
      keepAlive = setInterval(() => {}, 2 ** 31 - 1);
      orchestrator.start();
      queuedSteps.start();
      claimedPasses.start();
      takeBackPasses = lendPasses(world, claimedPasses);
      consumers = [
        world.queue.consume(
          workflowTopic,
          (message, delivery) => {
            const { runId, dueAt } = message.payload as unknown as WakeMessage;
            return report(
              'orchestration pass failed',
              message,
              () => consumedPass(runId, dueAt, delivery),
              () => explainFailure(runId),
            );
          },
          {
            concurrency,
            leaseMs: orchestrationLeaseMs,
          },
        ),
        world.queue.consume(
          stepTopic,
          (message, delivery) =>
            report('queued step failed', message, () =>
              queuedSteps.execute(message.payload as unknown as StepMessage, {
                leaseMs: orchestrationLeaseMs,
                extend: () => delivery.extendLease(orchestrationLeaseMs),
              }),
            ),
          {
            concurrency,
            leaseMs: orchestrationLeaseMs,
          },
        ),
      ];
      // Recovery: every run that is not terminal gets a wake, so nothing a crash interrupted is lost.
      for (const status of ['pending', 'running'] as const) {
        let cursor: string | undefined;
        do {
          const page = await world.runs.list({ status, limit: 500, ...(cursor === undefined ? {} : { cursor }) });
          for (const run of page.data) if (workflows.has(run.workflowName)) await orchestrator.sendWake(run.runId);
          cursor = page.cursor ?? undefined;
        } while (cursor !== undefined);
      }
      logger.info(`worker started on ${world.name}`, {
        world: world.name,
        workflows: [...workflows.keys()],
        concurrency,
        runLease,
      });
    },
    async stop() {
      const wasStarted = keepAlive !== undefined;
      // No new step attempts start from here on; running ones see their signal abort, and
      // the passes that started them wait for them and record their outcomes.
      takeBackPasses();
      claimedPasses.stop();
      orchestrator.stop();
      queuedSteps.stop();
      await Promise.all([...consumers.map((consumer) => consumer.stop()), claimedPasses.drain()]);
      consumers = [];
      orchestrator.clear();
      clearInterval(keepAlive);
      keepAlive = undefined;
      if (wasStarted) logger.info(`worker stopped on ${world.name}`, { world: world.name });
    },
    stopOnSignals(signalOptions = {}) {
      return installSignalHandlers(() => worker.stop(), signalOptions, logger);
    },
  };
  return worker;
}
