import type { WorkflowDefinition } from '../workflow/definitions.js';
import type { WorkflowReplay } from '../workflow/replay.js';
import type { CreateEventRequest } from '../world/schemas/events.js';
import type { CreateEventResult, EnqueueRequest, QueueClaim, World } from '../world/world.js';
import { createWithFirstPass } from './first-pass.js';
import type { Orchestrator } from './orchestrator.js';

/**
 * What a started worker lends to clients of the same World object in this process. A run
 * a client starts here (or wakes with a hook delivery) can have its next pass run here at
 * once, on a wake the append queued already leased to this process (a claim), instead of
 * going round the queue: no notification, no lease query, and the claim is acknowledged in
 * the very append that ends the run. A process that dies mid-pass loses nothing: the claim
 * lapses like any lease and the wake goes to a consumer.
 */
export interface PassHost {
  /** The claim's lease; the pass renews it while it runs, as it renews a delivery's. */
  readonly leaseMs: number;
  /** Whether a new run of `workflowName` may have its first pass here now. */
  takesWorkflow(workflowName: string): boolean;
  /** Whether `runId` (its replay warm here, so its workflow known) may have its next pass here now. */
  takesRun(runId: string): boolean;
  /** Runs the pass in the background, then settles the claim. */
  run(runId: string, claim: QueueClaim): void;
  /**
   * Creates a run of a workflow it takes (`creation`, its run_created) together with the
   * run's first pass's decisions, in one append whose outbox holds `wake` (to be queued
   * claimed) unless the run ends in it, and goes on with the pass in the background.
   * Resolves with the append's results, or undefined when it did not create the run: the
   * caller then creates it alone. Throws what the append throws for the creation itself.
   */
  create(runId: string, creation: CreateEventRequest, wake: EnqueueRequest): Promise<CreateEventResult[] | undefined>;
}

const hosts = new WeakMap<World, PassHost>();

/** Lends `host` to clients of `world` in this process; returns the function that takes it back. */
export function lendPasses(world: World, host: PassHost): () => void {
  hosts.set(world, host);
  return () => {
    if (hosts.get(world) === host) hosts.delete(world);
  };
}

/** The host lent for `world`, when there is one and the World can queue claimed messages. */
export function passHostFor(world: World): PassHost | undefined {
  const { queue } = world;
  if (world.capabilities.queue.claims !== true || !queue.extendClaim || !queue.settleClaim) return undefined;
  return hosts.get(world);
}

export interface ClaimedPassesOptions {
  world: World;
  orchestrator: Orchestrator;
  workflows: ReadonlyMap<string, WorkflowDefinition>;
  leaseMs: number;
  /** Claimed passes running at once, beside the queue consumer's own. */
  concurrency: number;
  /** Reports a pass that failed; its wake is then handed to the queue. */
  reportFailure(runId: string, error: unknown): Promise<void>;
}

/** How long a failed claimed pass's wake waits before a consumer takes it: a consumer's first backoff step. */
const handBackAfterMs = 100;

/** A worker's side of `PassHost`: runs claimed passes and settles their claims. */
export class ClaimedPasses implements PassHost {
  private readonly running = new Set<Promise<void>>();

  constructor(private readonly options: ClaimedPassesOptions) {}

  get leaseMs(): number {
    return this.options.leaseMs;
  }

  takesWorkflow(workflowName: string): boolean {
    return this.running.size < this.options.concurrency && this.options.workflows.has(workflowName);
  }

  takesRun(runId: string): boolean {
    return this.running.size < this.options.concurrency && this.options.orchestrator.isWarm(runId);
  }

  run(runId: string, claim: QueueClaim): void {
    this.track(this.drive(runId, claim));
  }

  async create(
    runId: string,
    creation: CreateEventRequest,
    wake: EnqueueRequest,
  ): Promise<CreateEventResult[] | undefined> {
    const definition =
      creation.eventType === 'run_created' ? this.options.workflows.get(creation.eventData.workflowName) : undefined;
    if (definition === undefined) return undefined;
    const created = createWithFirstPass(this.options.orchestrator.recorder, definition, runId, creation, wake);
    // Counted as running from the start, so the worker's concurrency and drain include it.
    this.track(
      created.then(
        (run) => (run?.claim === undefined ? undefined : this.drive(runId, run.claim, run.replay)),
        () => {},
      ),
    );
    return (await created)?.results;
  }

  private track(pass: Promise<void>): void {
    const tracked: Promise<void> = pass.finally(() => this.running.delete(tracked));
    this.running.add(tracked);
  }

  /** Resolves once every claimed pass started so far has settled its claim. */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** `created`: the replay of a run just created here with its first pass's decisions. */
  private async drive(runId: string, claim: QueueClaim, created?: WorkflowReplay): Promise<void> {
    const { world, orchestrator, leaseMs } = this.options;
    const extendClaim = world.queue.extendClaim!.bind(world.queue);
    const settleClaim = world.queue.settleClaim!.bind(world.queue);
    const { recorder } = orchestrator;
    recorder.claims.hold(runId, claim);
    try {
      await orchestrator.wake(runId, { lease: { leaseMs, extend: () => extendClaim(claim, leaseMs) } }, created);
    } catch (error) {
      recorder.claims.drop(runId, claim);
      await this.options.reportFailure(runId, error);
      // Handed back as a consumer hands back a rejected delivery: the queue redelivers it.
      await settleWithRetries(() => settleClaim(claim, { retryAfterMs: handBackAfterMs }));
      return;
    }
    // Unless the append that ended the run acknowledged it, the claim is settled on its own.
    if (recorder.claims.drop(runId, claim)) await settleWithRetries(() => settleClaim(claim, { acknowledge: true }));
  }
}

/**
 * A settlement that failed (the World briefly unreachable) is tried twice more. One that
 * never lands leaves the claim to lapse: the wake then goes to a consumer, which finds the
 * pass's work done, but until then the run's group stays held, so a hook delivery to a run
 * that suspended would wait for the lapse.
 */
async function settleWithRetries(settle: () => Promise<boolean>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await settle();
      return;
    } catch {
      if (attempt >= 3) return;
      await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** attempt));
    }
  }
}
