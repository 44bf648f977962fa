const marker = Symbol.for('cairn.error.WorldClockMismatch');

/**
 * The test environment's World stamped an event with a time the environment's virtual clock
 * never showed: the World keeps time of its own, so its sleeps and delayed messages would
 * not follow the virtual clock. Build the World with the environment's clock instead.
 */
export class WorldClockMismatchError extends Error {
  override name = 'WorldClockMismatchError';
  readonly code = 'WORLD_CLOCK_MISMATCH';
  readonly world: string;
  /** The `createdAt` the World gave the event. */
  readonly stampedAt: number;
  /** The virtual clock's range while the World wrote it. */
  readonly clockRange: { from: number; to: number };

  constructor(args: { world: string; stampedAt: number; clockRange: { from: number; to: number } }) {
    const iso = (ms: number) => new Date(ms).toISOString();
    super(
      `World "${args.world}" stamped an event at ${iso(args.stampedAt)} while the test's virtual clock read ` +
        `${iso(args.clockRange.from)}..${iso(args.clockRange.to)}: it keeps its own time, so its sleeps and delayed ` +
        'messages would not follow the virtual clock. Pass `world: (clock) => createMyWorld({ clock })` so the ' +
        'World is built on the environment’s clock (a World that cannot take a clock cannot be time-skipped).',
    );
    this.world = args.world;
    this.stampedAt = args.stampedAt;
    this.clockRange = args.clockRange;
    Object.defineProperty(this, marker, { value: true });
  }

  static is(error: unknown): error is WorldClockMismatchError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}
