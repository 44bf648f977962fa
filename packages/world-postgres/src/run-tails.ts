import type { RunStatus, WatchedTail } from '@cairn/core/world';

/** Runs whose tails are followed at once; the least recently used beyond this are forgotten. */
const maxFollowedRuns = 10_000;
/** Latest notified tails kept for runs not followed, so a read a notification overtook is corrected. */
const maxRecentRuns = 1000;

/**
 * The tails of the runs this World is watching, as the LISTEN connection reports them.
 *
 * Every append's notification carries the run's new last seq and status. Once a run's tail
 * has been read while the listener was connected, every later commit reaches us as a
 * notification, so from then on the tail is known without asking the database: a watch
 * that finds it already past its `afterSeq` returns at once, and one that does not simply
 * waits, because a commit whose notification is still on its way will wake it.
 *
 * That holds only while the connection stays up. Each (re)connection starts a new
 * generation and forgets everything, since notifications sent while it was down are lost.
 */
export class RunTails {
  private readonly tails = new Map<string, WatchedTail>();
  /**
   * The newest tail notified for each of the last runs notified, followed or not. A read (or
   * an append) may be answered after a later commit's notification was already handled;
   * following from the read alone would then trust a stale tail and wait on a notification
   * that has come and gone.
   */
  private readonly recent = new Map<string, WatchedTail>();
  private currentGeneration = 0;

  /** Changes whenever the listener connects or drops; a read is trusted only if it did not change across it. */
  get generation(): number {
    return this.currentGeneration;
  }

  /** The listener (re)connected or dropped: what was learned before may have gaps. */
  forgetAll(): void {
    this.currentGeneration++;
    this.tails.clear();
    this.recent.clear();
  }

  /** The run's tail, if it is followed. */
  get(runId: string): WatchedTail | undefined {
    const tail = this.tails.get(runId);
    if (tail === undefined) return undefined;
    // Re-inserted so the map's order stays recency order.
    this.tails.delete(runId);
    this.tails.set(runId, tail);
    return tail;
  }

  /**
   * Starts following a run from a read of its tail, if the listener was connected for the
   * whole read (`generation` taken before it began).
   */
  follow(runId: string, tail: WatchedTail, generation: number): void {
    if (generation !== this.currentGeneration) return;
    this.advance(runId, tail, true);
    const notified = this.recent.get(runId);
    if (notified !== undefined) this.advance(runId, notified, false);
    if (this.tails.size > maxFollowedRuns) this.tails.delete(this.tails.keys().next().value!);
  }

  /** A notification's tail: applied only to runs already followed, so memory stays bounded by the watches. */
  notified(runId: string, tail: WatchedTail): void {
    this.advance(runId, tail, false);
    const known = this.recent.get(runId);
    if (known !== undefined && known.lastSeq >= tail.lastSeq) return;
    this.recent.delete(runId);
    this.recent.set(runId, tail);
    if (this.recent.size > maxRecentRuns) this.recent.delete(this.recent.keys().next().value!);
  }

  private advance(runId: string, tail: WatchedTail, add: boolean): void {
    const known = this.tails.get(runId);
    if (known === undefined ? !add : known.lastSeq >= tail.lastSeq) return;
    this.tails.set(runId, tail);
  }
}

/**
 * The detail an append's notification carries after its key: the run's last seq and status,
 * separated by spaces (neither contains one).
 */
export const formatTail = (tail: WatchedTail): string => `${tail.lastSeq} ${tail.status}`;

export function parseTail(detail: string): WatchedTail | undefined {
  // Sliced at the first space rather than split: every notification is parsed, several
  // times per step, and a split builds an array of every part.
  const space = detail.indexOf(' ');
  if (space < 0) return undefined;
  const next = detail.indexOf(' ', space + 1);
  const status = next < 0 ? detail.slice(space + 1) : detail.slice(space + 1, next);
  const lastSeq = Number(detail.slice(0, space));
  if (!Number.isInteger(lastSeq) || status === '') return undefined;
  return { lastSeq, status: status as RunStatus };
}
