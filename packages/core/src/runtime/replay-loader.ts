import { ReplayDivergenceError } from '../errors/replay-divergence-error.js';
import type { WorkflowDefinition } from '../workflow/definitions.js';
import { WorkflowReplay } from '../workflow/replay.js';
import type { WorldEvent } from '../world/schemas/events.js';
import type { World } from '../world/world.js';
import { cancelRunTree } from './cancel.js';
import { takeClientAppends } from './client-appends.js';

/**
 * Brings replays level with a run's log: builds a cold one from the log, or catches a warm
 * one up with what was appended since it last saw the log. Where a client in this process
 * has just appended to the run, its events stand in for the read.
 */
export class ReplayLoader {
  constructor(
    private readonly world: World,
    private readonly workflows: ReadonlyMap<string, WorkflowDefinition>,
    /** Wakes carry the run's group key (see `cancelRunTree`). */
    private readonly runLease: boolean,
  ) {}

  /**
   * A cold replay, caught up. The log's first event names the workflow and the parent, so
   * one read of the log is all a cold pass needs before it can decide.
   */
  async load(runId: string): Promise<WorkflowReplay> {
    const { world } = this;
    // A run a client in this process just created: its log so far is known (client-appends.ts).
    const known = takeClientAppends(world, runId, 0);
    const page = known ? { data: known, hasMore: false } : await world.events.list(runId, { afterSeq: 0, limit: 1000 });
    const created = page.data[0];
    if (created?.eventType !== 'run_created') {
      throw new Error(`The log of run ${runId} does not start with run_created`);
    }
    const { workflowName } = created.eventData;
    const definition = this.workflows.get(workflowName);
    if (!definition) {
      throw new Error(`Run ${runId} is of workflow "${workflowName}", which this worker does not have`);
    }
    const replay = new WorkflowReplay(runId, definition);
    if (await this.feed(replay, page.data)) {
      if (page.hasMore) await this.catchUp(replay);
    }
    if (replay.parent !== undefined && !replay.isTerminal) {
      // A cancel cascade that died half way: finish it from the child's side.
      const parent = await world.runs.get(replay.parent.runId);
      if (parent.status === 'cancelled') {
        await cancelRunTree(world, runId, {
          reason: `parent run ${parent.runId} was cancelled`,
          runLease: this.runLease,
        });
        await this.catchUp(replay);
      }
    }
    return replay;
  }

  /**
   * Feeds the replay what the log holds beyond its tail. `mayUseClientAppends`: at the start
   * of a pass, events a client in this process appended may stand in for the read.
   */
  async catchUp(replay: WorkflowReplay, mayUseClientAppends = false): Promise<void> {
    const known = mayUseClientAppends ? takeClientAppends(this.world, replay.runId, replay.tail.seq) : undefined;
    if (known !== undefined) {
      await this.feed(replay, known);
      return;
    }
    for (;;) {
      const page = await this.world.events.list(replay.runId, { afterSeq: replay.tail.seq, limit: 1000 });
      if (!(await this.feed(replay, page.data)) || !page.hasMore) return;
    }
  }

  /** Feeds events in order; false once the replay has diverged (it records why). */
  private async feed(replay: WorkflowReplay, events: readonly WorldEvent[]): Promise<boolean> {
    for (const event of events) {
      try {
        await replay.feed(event);
      } catch (error) {
        if (ReplayDivergenceError.is(error)) return false;
        throw error;
      }
    }
    return true;
  }
}
