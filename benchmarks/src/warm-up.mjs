// Warming a driver before it is measured. V8 compiles a process's JavaScript in tiers as it
// runs: on these machines a fresh driver's 10-step run took 26 to 29 ms for cairn-postgres
// and 32 to 33 ms for DBOS over its first eight runs, and came down to 9 to 11 and 13 to 17 ms
// only after a few hundred (measured run by run, two fresh drivers each). A cell taken in
// the first tens of runs measures how far each system's compiler has got, which moves from
// round to round by more than the targets' margins. A worker that serves traffic is past
// that, so every driver runs the same warm-up before any sample is taken.

/**
 * How long a fresh driver warms up: 10-step runs until this many were made, or this long
 * has passed, whichever comes first. The time bound keeps the slowest peers (hundreds of ms
 * a run) from stretching the whole benchmark; the report says what each driver got.
 */
export const driverWarmUp = { runs: 300, budgetMs: 10_000 };

/**
 * Calls `run` until `plan.runs` runs have been made or `plan.budgetMs` has passed (at least
 * one call either way), and says what it did: runs made, time taken, and the median of the
 * last ten calls' own times when `run` resolves with one. A call makes `runsPerCall` runs (a
 * burst of workflows, say); `now` is the clock.
 */
export async function warmUp(run, plan, { runsPerCall = 1, now = () => performance.now() } = {}) {
  const began = now();
  const recent = [];
  let runs = 0;
  do {
    const ms = await run();
    runs += runsPerCall;
    if (typeof ms === 'number') recent.push(ms);
    if (recent.length > 10) recent.shift();
  } while (runs < plan.runs && now() - began < plan.budgetMs);
  const sorted = [...recent].sort((a, b) => a - b);
  return {
    runs,
    ms: now() - began,
    ...(sorted.length === 0 ? {} : { lastTenMedianMs: sorted[Math.floor(sorted.length / 2)] }),
  };
}
