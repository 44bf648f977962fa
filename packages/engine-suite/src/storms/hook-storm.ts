import { createHook, getRunMetadata, sleep, step, workflow } from '@cairn/core';
import type { Findings, LogIndex } from './audit.js';
import type { BurstPlan } from './resume.js';
import { bump, type StormShape, type Tally } from './runner.js';
import { between, pause, range, type StormScale } from './scale.js';
import { type BranchSteps, checkBranch, checkReconcile, type RoundSummary } from './watchdog.js';

/*
 * hook-storm: step-storm's shape with a hook delivery in place of the raced step. Each
 * branch races its own hook against a watchdog sleep while the test fires resume bursts
 * straddling the watchdog's deadline; the watchdog side runs two steps, the delivered side
 * one (carrying the payload that won), every branch ends with a step in `finally`, and a
 * reconcile fan-out as wide as the round's watchdog wins follows.
 */

export interface HookStormInput {
  seed: number;
  index: number;
  rounds: number;
  width: number;
  watchdogMs: number;
}

export interface HookStormOutput {
  runId: string;
  rounds: RoundSummary[];
  /** Per round, per branch: the payload that won, or null where the watchdog did. */
  payloads: (string | null)[][];
}

const hookToken = (runId: string, round: number, branch: number) => `${runId}:hk:${round}:${branch}`;

const names: BranchSteps = {
  watchdogA: 'storm.hk.watchdog-a',
  watchdogB: 'storm.hk.watchdog-b',
  settle: 'storm.hk.delivered',
  cleanup: 'storm.hk.finally',
  reconcile: 'storm.hk.reconcile',
};

const watchdogA = step(names.watchdogA, async (round: number, branch: number) => {
  await pause((round + branch) % 3);
  return `a:${round}.${branch}`;
});
const watchdogB = step(
  names.watchdogB,
  async (round: number, branch: number, a: string) => `b:${round}.${branch}:${a}`,
);
const delivered = step(
  names.settle,
  async (round: number, branch: number, payload: string) => `got:${round}.${branch}:${payload}`,
);
const cleanup = step(names.cleanup, async (round: number, branch: number) => {
  await pause(branch % 2);
  return `finally:${round}.${branch}`;
});
const reconcile = step(names.reconcile, async (round: number, slot: number) => `reconciled:${round}.${slot}`);

async function branch(input: HookStormInput, runId: string, round: number, index: number) {
  try {
    const hook = createHook<string>({ token: hookToken(runId, round, index) });
    const raced = await Promise.race([
      hook.then((payload) => ({ won: 'delivered' as const, payload })),
      sleep(input.watchdogMs).then(() => ({ won: 'watchdog' as const, payload: null })),
    ]);
    hook.dispose();
    if (raced.won === 'watchdog') await watchdogB(round, index, await watchdogA(round, index));
    else await delivered(round, index, raced.payload);
    return raced;
  } finally {
    await cleanup(round, index);
  }
}

export const hookStormWorkflow = workflow('storm.hook-storm', async (input: HookStormInput) => {
  const { runId } = getRunMetadata();
  const rounds: RoundSummary[] = [];
  const payloads: (string | null)[][] = [];
  for (let round = 0; round < input.rounds; round++) {
    const raced = await Promise.all(range(input.width).map((index) => branch(input, runId, round, index)));
    const outcomes = raced.map((entry) => entry.won);
    const wins = outcomes.filter((outcome) => outcome === 'watchdog').length;
    const reconciled = await Promise.all(range(wins).map((slot) => reconcile(round, slot)));
    rounds.push({ outcomes, reconciled });
    payloads.push(raced.map((entry) => entry.payload));
  }
  return { runId, rounds, payloads };
});

/**
 * Bursts straddle the branch's watchdog deadline: they start between 30 ms before it and
 * 50 ms after (a wait completes tens of ms after its resumeAt under load) and follow 4 ms apart, so some
 * branches are delivered before it, some race it closely, and some are left to the watchdog.
 */
function bursts(input: HookStormInput, seed: number, scale: StormScale): BurstPlan {
  return (token, waits) => {
    const [round, index] = token.split(':hk:')[1]!.split(':').map(Number) as [number, number];
    const watchdog = waits[round * input.width + index];
    if (watchdog === undefined) return undefined;
    const start = watchdog.resumeAt + between(-30, 50, seed, input.index, round, index);
    return range(scale.bursts).map((burst) => start + burst * 4);
  };
}

function expected(
  log: LogIndex,
  input: HookStormInput,
  runId: string,
  findings: Findings,
  tally: Tally,
): HookStormOutput {
  const rounds: RoundSummary[] = [];
  const payloads: (string | null)[][] = [];
  const result = () => ({ runId, rounds, payloads });
  let previousEnd = 0;
  for (let round = 0; round < input.rounds; round++) {
    const outcomes: string[] = [];
    const roundPayloads: (string | null)[] = [];
    const ends: number[] = [];
    for (let index = 0; index < input.width; index++) {
      const at = `round ${round} branch ${index}`;
      const hook = log.hook(hookToken(runId, round, index));
      // Waits are issued one per branch, in branch order, round after round.
      const watchdog = log.waits[round * input.width + index];
      if (!findings.check(hook !== undefined && watchdog !== undefined, `${at}: hook or watchdog missing`))
        return result();
      findings.check(hook!.createdSeq > previousEnd, `${at}: hook created before the previous round ended`);
      const first = hook!.received[0];
      const firedAt = watchdog!.completedSeq;
      if (!findings.check(first !== undefined || firedAt !== undefined, `${at}: neither side of the race settled`))
        return result();
      const won = first !== undefined && (firedAt === undefined || first.seq < firedAt) ? 'delivered' : 'watchdog';
      const decidedAt = won === 'delivered' ? first!.seq : firedAt!;
      bump(tally, won === 'watchdog' ? 'watchdog wins' : 'delivered');
      findings.check(
        hook!.disposedSeq !== undefined && hook!.disposedSeq > decidedAt,
        `${at}: the hook was not disposed after the race`,
      );
      const payload = won === 'delivered' ? (first!.payload as string) : null;
      const end = checkBranch(log, names, findings, at, round, index, {
        won,
        decidedAt,
        settleArgs: [round, index, payload],
      });
      if (end === undefined) return result();
      outcomes.push(won);
      roundPayloads.push(payload);
      ends.push(end);
    }
    const summary = checkReconcile(log, names, findings, round, outcomes, ends, tally);
    if (!summary) return result();
    rounds.push(summary.round);
    payloads.push(roundPayloads);
    previousEnd = summary.end;
  }
  return result();
}

export const hookStorm: StormShape<HookStormInput, HookStormOutput> = {
  name: 'hook-storm',
  workflow: hookStormWorkflow,
  inputs: (seed, scale) =>
    range(scale.runs).map((index) => ({ seed, index, rounds: scale.rounds, width: scale.width, watchdogMs: 80 })),
  rounds: (input) => input.rounds,
  outcomes: ['watchdog wins', 'delivered', 'reconcile steps'],
  bursts,
  expected,
};
