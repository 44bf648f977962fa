import type { WorkflowDefinition } from '../workflow/definitions.js';
import type { WorkflowReplay } from '../workflow/replay.js';
import type { CreateEventRequest } from '../world/schemas/events.js';
import { ulid } from '../world/ulid.js';
import type { CreateEventResult, EnqueueRequest, QueueClaim, World } from '../world/world.js';
import { pause } from './client-waits.js';
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
  /**
   * Hands the claim of `wake` (made by `claimedWake`) back to the queue, in the background,
   * for an append that threw: its answer may have been lost after it committed, and a claim
   * nobody knows it holds would keep the run's wake from every consumer until its lease ran
   * out. A claim that was never taken settles to false, so this is safe after any failure.
   */
  handBack(wake: EnqueueRequest): void;
}

/**
 * The run's wake `message`, to be queued leased to `host`, under ids chosen here rather than
 * by the World: if the append's answer is lost, the claim can still be handed back.
 */
export function claimedWake(message: EnqueueRequest, host: PassHost): EnqueueRequest {
  return {
    ...message,
    claim: { leaseMs: host.leaseMs, messageId: `msg_${ulid()}`, token: `claim_${ulid()}` },
  };
}

/** The claim a message made by `claimedWake` is, once its append commits and the claim holds. */
function claimOf({ topic, options, claim }: EnqueueRequest): QueueClaim | undefined {
  if (claim?.messageId === undefined || claim.token === undefined) return undefined;
  return {
    topic,
    messageId: claim.messageId,
    token: claim.token,
    ...(options?.groupKey === undefined ? {} : { groupKey: options.groupKey }),
  };
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
  /** Claimed passes taken at once, beside the queue consumer's own. */
  limit: number;
  /** Reports a pass that failed; its wake is then handed to the queue. */
  reportFailure(runId: string, error: unknown): Promise<void>;
}

/**
 * Claimed passes a worker takes per unit of its `concurrency`. A claimed pass is mostly
 * waiting: on its step slots (which `concurrency` bounds by themselves) and on its appends.
 * Sending the runs beyond `concurrency` round the queue cost each a notification, a lease
 * and the consumer's bookkeeping, which in a burst of runs is most of the database's work
 * per run; holding them here costs a warm replay each. Ten keeps a burst many times the
 * worker's step slots local, while the orchestrator's warm replays (1,000) still hold them.
 */
export const claimedPassesPerUnitOfConcurrency = 10;

/** How long a failed claimed pass's wake waits before a consumer takes it: a consumer's first backoff step. */
const handBackAfterMs = 100;

/** A worker's side of `PassHost`: runs claimed passes and settles their claims. */
export class ClaimedPasses implements PassHost {
  private readonly running = new Set<Promise<void>>();
  /** Aborted by stop(): no pass starts, and settlements stop waiting to try again. */
  private stopped = new AbortController();

  constructor(private readonly options: ClaimedPassesOptions) {}

  /** Takes passes (again, after a stop). */
  start(): void {
    if (this.stopped.signal.aborted) this.stopped = new AbortController();
  }

  /**
   * Takes no more passes. A claim that still reaches it (its append was on the way when
   * the worker stopped) is handed back to the queue at once, for another worker.
   */
  stop(): void {
    this.stopped.abort();
  }

  get leaseMs(): number {
    return this.options.leaseMs;
  }

  takesWorkflow(workflowName: string): boolean {
    return this.hasRoom() && this.options.workflows.has(workflowName);
  }

  takesRun(runId: string): boolean {
    return this.hasRoom() && this.options.orchestrator.isWarm(runId);
  }

  run(runId: string, claim: QueueClaim): void {
    if (!this.stopped.signal.aborted) this.track(this.drive(runId, claim));
    else this.giveBack(claim);
  }

  handBack(wake: EnqueueRequest): void {
    const claim = claimOf(wake);
    if (claim !== undefined) this.giveBack(claim);
  }

  /** Settles `claim` for a consumer to take its message at once. */
  private giveBack(claim: QueueClaim): void {
    const settleClaim = this.options.world.queue.settleClaim!.bind(this.options.world.queue);
    this.track(this.settle(() => settleClaim(claim, { retryAfterMs: 0 })));
  }

  async create(
    runId: string,
    creation: CreateEventRequest,
    wake: EnqueueRequest,
  ): Promise<CreateEventResult[] | undefined> {
    const definition =
      creation.eventType === 'run_created' ? this.options.workflows.get(creation.eventData.workflowName) : undefined;
    if (definition === undefined || this.stopped.signal.aborted) return undefined;
    const created = createWithFirstPass(this.options.orchestrator.recorder, definition, runId, creation, wake);
    // Counted as taken from the start, so the limit and drain include it.
    this.track(
      created.then(
        (run) => (run?.claim === undefined ? undefined : this.drive(runId, run.claim, run.replay)),
        () => {},
      ),
    );
    return (await created)?.results;
  }

  private hasRoom(): boolean {
    return !this.stopped.signal.aborted && this.running.size < this.options.limit;
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
    let acknowledged: boolean;
    try {
      acknowledged = await orchestrator.recorder.claims.holdWhile(runId, claim, () =>
        orchestrator.wake(runId, { lease: { leaseMs, extend: () => extendClaim(claim, leaseMs) } }, created),
      );
    } catch (error) {
      await this.options.reportFailure(runId, error);
      // Handed back as a consumer hands back a rejected delivery: the queue redelivers it.
      await this.settle(() => settleClaim(claim, { retryAfterMs: handBackAfterMs }));
      return;
    }
    // Unless the append that ended the run acknowledged it, the claim is settled on its own.
    if (!acknowledged) await this.settle(() => settleClaim(claim, { acknowledge: true }));
  }

  /**
   * A settlement that failed (the World unreachable for a while) is tried again, with a
   * growing pause, for as long as the claim can still be held: until the claim runs out,
   * the run's group stays held, so a hook delivered to a run that suspended would wait for
   * that. A stopping worker tries once more and then leaves the claim to lapse, as a crash
   * would; the wake then goes to a consumer.
   */
  private async settle(settlement: () => Promise<boolean>): Promise<void> {
    const claimEndsAt = Date.now() + this.options.leaseMs;
    const stopped = this.stopped.signal;
    for (let delayMs = 50; ; delayMs = Math.min(delayMs * 2, 1000)) {
      try {
        await settlement();
        return;
      } catch {
        if (stopped.aborted || Date.now() + delayMs >= claimEndsAt) return;
        await pause(delayMs, stopped);
      }
    }
  }
}
