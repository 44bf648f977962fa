import { isTransient } from './write-refusals.js';

/**
 * The least cost per append the queue's allowance assumes. A World's cost per append varies
 * several times over between one burst and the next (a database that starts vacuuming, a
 * checkpoint), and a burst chooses all its stamps from what the last one showed: with
 * PostgreSQL serving a burst at about 0.25 ms per append, the first burst after a few quiet
 * seconds met four times that and had a third of its stamps refused. A stamp too far ahead
 * costs only that much skew in the run's `now()`, bounded by the ceiling.
 */
const leastCostPerAppendMs = 1;

/**
 * How far ahead of the clock a speculative batch stamps its `createdAt` (see "One durable
 * write per step" in docs/architecture.md). The World refuses a stamp that is already in
 * the past when it commits, so the margin has to cover the append's whole latency,
 * including any wait for a database connection.
 *
 * That latency has two parts, and the margin follows each its own way:
 *
 * - **Queueing behind this process's own appends.** Appends started together (a burst of
 *   runs, a fan-out's completions) wait for one another in the World's connection pool, so
 *   the last of forty commits long after the first, although each costs the same. The margin
 *   counts every append of this World object on its way, stamped or not, from the moment a
 *   stamp is chosen, and gives each one twice the observed cost per append (at least
 *   `leastCostPerAppendMs`) times the number ahead of it, itself included. A burst's first
 *   stamps are all chosen before any of its appends commits, so nothing learned from the
 *   burst's own answers could reach them.
 * - **Everything else** (a loaded database, another process's traffic, a network hop): a
 *   base margin that widens when a stamp is refused or an append takes more than half of
 *   it, and drifts back toward the floor while appends are fast, because a wide
 *   margin pushes the run's `now()` (and the start of its sleeps) further ahead of the wall
 *   clock. It drifts back with time (halving every `halfLifeMs`), not with the number of
 *   fast commits: load comes in bursts, and a burst ends with a run of fast commits that
 *   would otherwise shrink the margin to the floor just before the next burst.
 *
 * A floor of 0 is fixed: batches are stamped at the clock and the margin never widens. That
 * is for a virtual clock, which stands still during an append unless a test moves it; an
 * append the test's jump made look days long must not push every later stamp ahead.
 */
export class SpeculationMargin {
  private base: number;
  private widenedAt: number;
  private widenedTo: number;
  /** Appends sent (or about to be, their stamp chosen) and not yet answered. */
  private inFlight = 0;
  /** A moving average of an append's latency divided by the appends it was sent behind. */
  private costPerAppendMs: number | undefined;
  /** Tickets of appends whose stamp is chosen but which are not sent yet, oldest first. */
  private readonly unsent = new Set<number>();
  /** Appends whose `ready()` waits for older ones to be sent. */
  private readonly waiting: { ticket: number; resume: () => void }[] = [];
  private lastTicket = 0;

  /**
   * @param floorMs the margin on an idle World, and the lowest it returns to.
   * @param ceilingMs the most it grows to; keep it well inside the World's
   *   `capabilities.maxFutureCreatedAtMs`, or stamps are refused for being too far ahead.
   * @param now this process's clock in milliseconds, for latencies and the drift back to the floor.
   * @param halfLifeMs how long the part of the base margin above the floor takes to halve
   *   once appends are fast again. Default 2000.
   */
  constructor(
    private readonly floorMs: number,
    private readonly ceilingMs: number,
    private readonly now: () => number = () => performance.now(),
    private readonly halfLifeMs = 2000,
  ) {
    this.base = floorMs;
    this.widenedTo = floorMs;
    this.widenedAt = now();
  }

  /**
   * Counts an append of this World as on its way, from now until it is settled, and returns
   * the margin a stamp chosen now needs. Call it when the stamp is chosen (or, for an
   * unstamped append, when it is sent), and settle it exactly once.
   */
  send(): PendingAppend {
    this.inFlight += 1;
    const ahead = this.inFlight;
    const sentAt = this.now();
    const ms = this.marginFor(ahead);
    const ticket = ++this.lastTicket;
    this.unsent.add(ticket);
    let settled = false;
    const settle = (sample: boolean): number | undefined => {
      if (settled) return undefined;
      settled = true;
      this.sent(ticket);
      this.inFlight -= 1;
      const latency = this.now() - sentAt;
      if (sample && this.floorMs > 0) {
        const cost = latency / ahead;
        this.costPerAppendMs = this.costPerAppendMs === undefined ? cost : this.costPerAppendMs * 0.8 + cost * 0.2;
      }
      return latency;
    };
    const pending: PendingAppend = {
      ms,
      ready: async () => {
        // An append whose stamp was chosen earlier is still being prepared (a first pass
        // running its workflow code): let it go first, or it waits behind this one for
        // longer than its stamp allowed. Its preparation is in-memory work, done within one
        // turn of the event loop, so one turn is the most this waits; it goes as soon as
        // the older ones are sent, ahead of preparations that start after them.
        const oldest = this.unsent.values().next().value;
        if (oldest !== undefined && oldest < ticket) {
          await new Promise<void>((resolve) => {
            const turn = setImmediate(() => {
              this.waiting.splice(this.waiting.indexOf(waiter), 1);
              resolve();
            });
            const waiter = {
              ticket,
              resume: () => {
                clearImmediate(turn);
                resolve();
              },
            };
            this.waiting.push(waiter);
          });
        }
        this.sent(ticket);
      },
      committed: () => {
        const latency = settle(true);
        if (latency === undefined || this.floorMs === 0) return;
        // Compared with the base, not with the margin this append was given: a burst's
        // latency is what the next burst meets, and the queue's allowance alone, learned
        // from a moving average, underestimates a burst that is slower than the last.
        if (latency * 2 > this.base) this.widen(latency * 2);
        else this.drift();
      },
      refused: () => {
        const latency = settle(true);
        if (latency === undefined || this.floorMs === 0) return;
        this.widen(Math.max(this.base * 2, ms * 2, latency * 2));
      },
      abandoned: () => {
        settle(false);
      },
      threw: (error) => {
        if (isTransient(error)) pending.abandoned();
        else pending.committed();
      },
    };
    return pending;
  }

  /** `ticket` left the unsent ones; resumes the appends that waited only for it and older ones. */
  private sent(ticket: number): void {
    if (!this.unsent.delete(ticket)) return;
    const oldest = this.unsent.values().next().value;
    for (let index = this.waiting.length - 1; index >= 0; index--) {
      const waiter = this.waiting[index]!;
      if (oldest !== undefined && oldest < waiter.ticket) continue;
      this.waiting.splice(index, 1);
      waiter.resume();
    }
  }

  /** Whole milliseconds, since a proposed createdAt must be whole. */
  private marginFor(ahead: number): number {
    if (this.floorMs === 0) return 0;
    const cost = this.costPerAppendMs === undefined ? 0 : Math.max(this.costPerAppendMs, leastCostPerAppendMs);
    const queueing = 2 * cost * ahead;
    return Math.ceil(Math.min(this.ceilingMs, Math.max(this.base, queueing)));
  }

  private widen(toMs: number): void {
    this.base = Math.min(this.ceilingMs, Math.max(this.base, toMs));
    this.widenedTo = this.base;
    this.widenedAt = this.now();
  }

  private drift(): void {
    const elapsed = Math.max(0, this.now() - this.widenedAt);
    const above = (this.widenedTo - this.floorMs) * 0.5 ** (elapsed / this.halfLifeMs);
    // Within a millisecond of the floor is the floor: whole milliseconds are stamped anyway.
    this.base = above < 1 ? this.floorMs : this.floorMs + above;
  }
}

/** One append counted by `SpeculationMargin.send`; settle it once, whichever way it went. */
export interface PendingAppend {
  /** How far ahead of the World's clock to stamp it, in whole milliseconds. */
  readonly ms: number;
  /**
   * Call right before handing the append to the World. Resolves at once, or after one turn
   * of the event loop when an append counted earlier is not sent yet, so appends reach the
   * World in the order their stamps were chosen.
   */
  ready(): Promise<void>;
  /** The World answered: it committed the append, or refused it for a reason other than its stamp. */
  committed(): void;
  /** The World refused the stamp for having fallen into its past: the margin was too small. */
  refused(): void;
  /** The append was never sent, or no answer came (an outage): nothing was learned. */
  abandoned(): void;
  /**
   * The append threw `error`, which is not a refused stamp: an outage is `abandoned`, since
   * no answer may have come; any other error is the World's answer, timed like a commit.
   */
  threw(error: unknown): void;
}
