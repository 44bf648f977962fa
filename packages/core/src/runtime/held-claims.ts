import type { WorkflowReplay } from '../workflow/replay.js';
import type { CreateEventRequest } from '../world/schemas/events.js';
import type { QueueClaim } from '../world/world.js';

/** The events that end a run: an append carrying one acknowledges the run's held claims. */
const endingEventTypes: ReadonlySet<string> = new Set(['run_completed', 'run_failed', 'run_cancelled']);

/** Whether an append of `writes` ends the run. */
export function endsRun(writes: readonly CreateEventRequest[]): boolean {
  return writes.some((write) => endingEventTypes.has(write.eventType));
}

/** What an ending append needs to know of the run it ends: a child's `parent` is set. */
type EndingRun = Pick<WorkflowReplay, 'runId' | 'parent'>;

/**
 * The claims of passes running here, per run: claimed wakes (claimed-passes.ts) and, where
 * the World gives one, a delivered wake's lease (worker.ts). The append that ends the run
 * acknowledges them, so a run that ends in such a pass costs no separate write to settle it.
 *
 * Except when the pass still has work to do after that append: a child run tells its parent
 * (the parent waits on nothing else), and on a World that does not close a run's streams
 * with its end the pass closes them. A wake acknowledged before that work is done would be
 * gone if the worker died or the work's writes kept failing, and nothing would ever do the
 * work. Such a run's wake is settled by the queue once the pass has returned, so a dead
 * worker's lease lapses and the next pass, finding the run ended, does the work again.
 */
export class HeldClaims {
  private readonly byRun = new Map<string, QueueClaim[]>();

  /** `streamsClosedWithRun`: the World's `capabilities.streams.closedWithRun`. */
  constructor(private readonly streamsClosedWithRun: boolean) {}

  /** Has the append that ends `runId` acknowledge `claim`, unless dropped first. */
  private hold(runId: string, claim: QueueClaim): void {
    this.byRun.set(runId, [...(this.byRun.get(runId) ?? []), claim]);
  }

  /**
   * Holds `claim` for `runId` while `work` runs, then drops it, whatever `work` does. Resolves
   * true when an append acknowledged the claim meanwhile (no settlement of it is left to
   * write); rejects with what `work` rejected with.
   */
  async holdWhile(runId: string, claim: QueueClaim, work: () => Promise<unknown>): Promise<boolean> {
    this.hold(runId, claim);
    let acknowledged = false;
    try {
      await work();
    } finally {
      acknowledged = !this.drop(runId, claim);
    }
    return acknowledged;
  }

  /** Stops holding `claim`; true when no append had acknowledged it yet. */
  private drop(runId: string, claim: QueueClaim): boolean {
    const held = this.byRun.get(runId);
    if (held === undefined || !held.includes(claim)) return false;
    this.keep(
      runId,
      held.filter((candidate) => candidate !== claim),
    );
    return true;
  }

  /**
   * The claims an append of `writes` acknowledges: those held for the run, when it ends the
   * run and leaves nothing to do after its end.
   */
  acknowledgedBy(run: EndingRun, writes: readonly CreateEventRequest[]): { acknowledge?: QueueClaim[] } {
    const held = this.byRun.get(run.runId);
    if (held === undefined || !endsRun(writes) || this.workAfterTheEnd(run)) return {};
    return { acknowledge: held };
  }

  /**
   * Whether a pass that ends `run` still writes once the run has ended (see the class): the
   * work `Children.finish` does, which must stay in step with this. (Cancelling the open
   * children is work after the end too, but no pass appends a cancel: `cancelRunTree`
   * does, outside any pass, and sends the run's wake with it.)
   */
  private workAfterTheEnd(run: EndingRun): boolean {
    return run.parent !== undefined || !this.streamsClosedWithRun;
  }

  /** After an append committed with `acknowledged`, those claims are settled and no longer held. */
  settled(runId: string, { acknowledge }: { acknowledge?: QueueClaim[] }): void {
    if (acknowledge === undefined) return;
    this.keep(
      runId,
      (this.byRun.get(runId) ?? []).filter((claim) => !acknowledge.includes(claim)),
    );
  }

  private keep(runId: string, claims: QueueClaim[]): void {
    if (claims.length === 0) this.byRun.delete(runId);
    else this.byRun.set(runId, claims);
  }
}
