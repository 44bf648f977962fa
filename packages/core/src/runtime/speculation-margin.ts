/**
 * How far ahead of the clock a speculative batch stamps its `createdAt` (see "One durable
 * write per step" in docs/architecture.md). The World refuses a stamp that is already in
 * the past when it commits, so the margin has to cover the append's whole latency,
 * including any wait for a database connection.
 *
 * A fixed margin that covers an idle World is too small for a loaded one, and every refusal
 * costs a lost batch, an extra write, a cold replay and a retry: more load, so more
 * refusals. The margin therefore widens when a stamp is refused or an append comes close to
 * it, and drifts back toward the floor while appends are fast, because a wide margin
 * pushes the run's `now()` (and the start of its sleeps) further ahead of the wall clock.
 *
 * It drifts back with time (halving every `halfLifeMs`), not with the number of fast
 * commits: load comes in bursts, and a burst ends with a run of fast commits (the queue has
 * drained) that would otherwise have shrunk the margin to the floor just before the next
 * burst, whose first stamps would then be refused again.
 *
 * A floor of 0 is fixed: batches are stamped at the clock and the margin never widens. That
 * is for a virtual clock, which stands still during an append unless a test moves it; an
 * append the test's jump made look days long must not push every later stamp ahead.
 */
export class SpeculationMargin {
  private current: number;
  private widenedAt: number;
  private widenedTo: number;

  /**
   * @param floorMs the margin on an idle World, and the lowest it returns to.
   * @param ceilingMs the most it grows to; keep it well inside the World's
   *   `capabilities.maxFutureCreatedAtMs`, or stamps are refused for being too far ahead.
   * @param now this process's clock in milliseconds, for the drift back to the floor.
   * @param halfLifeMs how long the part of the margin above the floor takes to halve once
   *   appends are fast again. Default 2000.
   */
  constructor(
    private readonly floorMs: number,
    private readonly ceilingMs: number,
    private readonly now: () => number = () => performance.now(),
    private readonly halfLifeMs = 2000,
  ) {
    this.current = floorMs;
    this.widenedTo = floorMs;
    this.widenedAt = now();
  }

  /** The margin to stamp the next batch with, in whole milliseconds (a createdAt must be whole). */
  get ms(): number {
    return Math.ceil(this.current);
  }

  /** A batch stamped `latencyMs` ago committed. */
  committed(latencyMs: number): void {
    if (this.floorMs === 0) return;
    if (latencyMs * 2 > this.current) this.widen(latencyMs * 2);
    else this.drift();
  }

  /** A batch stamped `latencyMs` ago was refused because its stamp had fallen into the past. */
  refused(latencyMs: number): void {
    if (this.floorMs === 0) return;
    this.widen(Math.max(this.current * 2, latencyMs * 2));
  }

  private widen(toMs: number): void {
    this.current = Math.min(this.ceilingMs, toMs);
    this.widenedTo = this.current;
    this.widenedAt = this.now();
  }

  private drift(): void {
    const elapsed = Math.max(0, this.now() - this.widenedAt);
    const above = (this.widenedTo - this.floorMs) * 0.5 ** (elapsed / this.halfLifeMs);
    // Within a millisecond of the floor is the floor: whole milliseconds are stamped anyway.
    this.current = above < 1 ? this.floorMs : this.floorMs + above;
  }
}
