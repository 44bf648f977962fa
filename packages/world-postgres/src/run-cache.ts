import type { Hook, Run, RunDraft, RunEntityReader, Step, Wait } from '@cairn/core/world';

/** How many runs' state one World keeps; the least recently appended to goes first. */
const maxCachedRuns = 1000;

/**
 * A run as this World last committed it: the run row and its open steps, waits and active
 * hooks (the ones a later batch may still change). Finished entities are left out, so a
 * long run costs memory for what is in flight, not for its history.
 */
export interface CachedRun {
  run: Run;
  openSteps: ReadonlyMap<string, Step>;
  openWaits: ReadonlyMap<string, Wait>;
  activeHooks: ReadonlyMap<string, Hook>;
  /**
   * Whether `activeHooks` holds every active hook of the run: true from the run's creation
   * on, as long as each state was derived from the one before. Only then may a batch that
   * ends the run (and so releases all its hooks) be drafted from the cache.
   */
  hooksComplete: boolean;
}

/**
 * What this World wrote last to each run it appends to, so the next append to that run can
 * be built before it reaches the database and sent in one round trip. Only a hint: the
 * append still checks, under the run's row lock, that the run's tail is the one cached
 * (every change to a run, its steps or its waits is an append that moves the tail), and
 * falls back to reading everything when it is not.
 */
export class RunCache {
  private readonly runs = new Map<string, CachedRun>();
  /** Runs this World ended, as committed: an ended run never changes again. */
  private readonly endedRuns = new Map<string, Run>();

  get(runId: string): CachedRun | undefined {
    return this.runs.get(runId);
  }

  /** A copy of the run this World ended, if the tail `lastSeq` is its ending. */
  ended(runId: string, lastSeq: number): Run | undefined {
    const run = this.endedRuns.get(runId);
    return run !== undefined && run.lastSeq === lastSeq ? structuredClone(run) : undefined;
  }

  /**
   * After a commit: `base` is what the draft read before its changes, and `known` the
   * cached state at the tail the append started from, if there was one. Entities the base
   * did not name are kept from `known`, which was exact at that tail.
   */
  remember(
    draft: RunDraft,
    base: { steps: Iterable<Step>; waits: Iterable<Wait>; hooks: Iterable<Hook> },
    known?: CachedRun,
  ): void {
    const run = draft.run;
    if (!run || run.status === 'completed' || run.status === 'failed' || run.status === 'cancelled') {
      this.runs.delete(draft.runId);
      if (run) {
        this.endedRuns.set(draft.runId, run);
        if (this.endedRuns.size > maxCachedRuns) this.endedRuns.delete(this.endedRuns.keys().next().value!);
      }
      return;
    }
    const current = this.runs.get(draft.runId);
    // Commits of one run can resolve out of order here; an older state never replaces a newer one.
    if (current && current.run.lastSeq >= run.lastSeq) return;
    const openSteps = new Map(known?.openSteps);
    const openWaits = new Map(known?.openWaits);
    const activeHooks = new Map(known?.activeHooks);
    for (const step of [...base.steps, ...draft.steps.values()]) {
      if (step.status === 'completed' || step.status === 'failed') openSteps.delete(step.stepId);
      else openSteps.set(step.stepId, step);
    }
    for (const wait of [...base.waits, ...draft.waits.values()]) {
      if (wait.status === 'completed') openWaits.delete(wait.waitId);
      else openWaits.set(wait.waitId, wait);
    }
    for (const hook of [...base.hooks, ...draft.hooks.values()]) {
      if (hook.status === 'active') activeHooks.set(hook.hookId, hook);
      else activeHooks.delete(hook.hookId);
    }
    // A run created by this batch had no hooks before it.
    const hooksComplete = draft.events[0]?.eventType === 'run_created' || known?.hooksComplete === true;
    this.runs.delete(draft.runId);
    this.runs.set(draft.runId, { run, openSteps, openWaits, activeHooks, hooksComplete });
    if (this.runs.size > maxCachedRuns) this.runs.delete(this.runs.keys().next().value!);
  }

  forget(runId: string): void {
    this.runs.delete(runId);
  }
}

/**
 * The entity rules' view of a cached run. What is not cached reads as absent: a batch that
 * names such an entity either breaks a rule here (and goes the long way) or inserts a row
 * that already exists, which the table's key refuses (and it goes the long way). A token
 * held in another run reads as free, and the live-token index refuses the claim the same way.
 */
export function cachedReader(cached: CachedRun): RunEntityReader {
  return {
    step: (stepId) => cached.openSteps.get(stepId),
    wait: (waitId) => cached.openWaits.get(waitId),
    hook: (hookId) => cached.activeHooks.get(hookId),
    tokenHolder: (token) => {
      for (const hook of cached.activeHooks.values()) {
        if (hook.token === token) return { runId: hook.runId, hookId: hook.hookId };
      }
      return undefined;
    },
    // Delivery ids are not cached (a run may hold many): a repeat passes here, the
    // hook_deliveries key refuses the statement, and the long way names the holder.
    deliveryHolder: () => undefined,
    activeHooks: () => cached.activeHooks.values(),
  };
}
