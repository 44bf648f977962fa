import { sleep, step, workflow } from '@cairn/core';
import type { Findings, LogIndex } from './audit.js';
import { bump, type StormShape, type Tally } from './runner.js';
import { between, pause, range } from './scale.js';
import { type BranchSteps, checkBranch, checkReconcile, type RoundSummary } from './watchdog.js';

/*
 * step-storm: each round runs `width` branches at once. Each branch races a step whose
 * duration straddles a watchdog sleep; the watchdog side then runs two steps, the settle
 * side one, and every branch ends with a step in `finally`. Then a reconcile fan-out runs,
 * as wide as the round's watchdog wins.
 */

export interface StepStormInput {
  seed: number;
  index: number;
  rounds: number;
  width: number;
  watchdogMs: number;
}

export interface StepStormOutput {
  rounds: RoundSummary[];
}

/**
 * The raced step's duration, straddling the watchdog: it starts only once its creation is
 * committed, after the watchdog's clock has started, so the window leans early.
 */
export const workMs = (input: StepStormInput, round: number, branch: number): number =>
  input.watchdogMs + between(-35, 15, input.seed, input.index, round, branch);

const names: BranchSteps = {
  watchdogA: 'storm.ss.watchdog-a',
  watchdogB: 'storm.ss.watchdog-b',
  settle: 'storm.ss.settle',
  cleanup: 'storm.ss.finally',
  reconcile: 'storm.ss.reconcile',
};

const work = step('storm.ss.work', async (round: number, branch: number, ms: number) => {
  await pause(ms);
  return `work:${round}.${branch}`;
});
const watchdogA = step(names.watchdogA, async (round: number, branch: number) => {
  await pause((round + branch) % 3);
  return `a:${round}.${branch}`;
});
const watchdogB = step(
  names.watchdogB,
  async (round: number, branch: number, a: string) => `b:${round}.${branch}:${a}`,
);
const settle = step(
  names.settle,
  async (round: number, branch: number, worked: string) => `settled:${round}.${branch}:${worked}`,
);
const cleanup = step(names.cleanup, async (round: number, branch: number) => {
  await pause(branch % 2);
  return `finally:${round}.${branch}`;
});
const reconcile = step(names.reconcile, async (round: number, slot: number) => `reconciled:${round}.${slot}`);

async function branch(input: StepStormInput, round: number, index: number): Promise<'watchdog' | 'settled'> {
  try {
    const raced = await Promise.race([
      work(round, index, workMs(input, round, index)).then((worked) => ({ won: 'settled' as const, worked })),
      sleep(input.watchdogMs).then(() => ({ won: 'watchdog' as const, worked: '' })),
    ]);
    if (raced.won === 'watchdog') await watchdogB(round, index, await watchdogA(round, index));
    else await settle(round, index, raced.worked);
    return raced.won;
  } finally {
    await cleanup(round, index);
  }
}

export const stepStormWorkflow = workflow('storm.step-storm', async (input: StepStormInput) => {
  const rounds: RoundSummary[] = [];
  for (let round = 0; round < input.rounds; round++) {
    const outcomes = await Promise.all(range(input.width).map((index) => branch(input, round, index)));
    const wins = outcomes.filter((outcome) => outcome === 'watchdog').length;
    const reconciled = await Promise.all(range(wins).map((slot) => reconcile(round, slot)));
    rounds.push({ outcomes, reconciled });
  }
  return { rounds };
});

function expected(
  log: LogIndex,
  input: StepStormInput,
  _runId: string,
  findings: Findings,
  tally: Tally,
): StepStormOutput {
  const rounds: RoundSummary[] = [];
  let previousEnd = 0;
  for (let round = 0; round < input.rounds; round++) {
    const outcomes: ('watchdog' | 'settled')[] = [];
    const ends: number[] = [];
    for (let index = 0; index < input.width; index++) {
      const at = `round ${round} branch ${index}`;
      const raced = log.step('storm.ss.work', round, index, workMs(input, round, index));
      // Waits are issued one per branch, in branch order, round after round.
      const watchdog = log.waits[round * input.width + index];
      if (!findings.check(raced !== undefined && watchdog !== undefined, `${at}: raced step or watchdog missing`))
        return { rounds };
      findings.check(raced!.createdSeq > previousEnd, `${at}: raced step created before the previous round ended`);
      const settledAt = raced!.completedSeq;
      const firedAt = watchdog!.completedSeq;
      if (!findings.check(settledAt !== undefined || firedAt !== undefined, `${at}: neither side of the race settled`))
        return { rounds };
      const won = firedAt !== undefined && (settledAt === undefined || firedAt < settledAt) ? 'watchdog' : 'settled';
      bump(tally, won === 'watchdog' ? 'watchdog wins' : 'settles');
      const end = checkBranch(log, names, findings, at, round, index, {
        won,
        decidedAt: won === 'watchdog' ? firedAt! : settledAt!,
        settleArgs: [round, index, raced!.output],
      });
      if (end === undefined) return { rounds };
      outcomes.push(won);
      ends.push(end);
    }
    const summary = checkReconcile(log, names, findings, round, outcomes, ends, tally);
    if (!summary) return { rounds };
    rounds.push(summary.round);
    previousEnd = summary.end;
  }
  return { rounds };
}

export const stepStorm: StormShape<StepStormInput, StepStormOutput> = {
  name: 'step-storm',
  workflow: stepStormWorkflow,
  inputs: (seed, scale) =>
    range(scale.runs).map((index) => ({ seed, index, rounds: scale.rounds, width: scale.width, watchdogMs: 40 })),
  rounds: (input) => input.rounds,
  outcomes: ['watchdog wins', 'settles', 'reconcile steps'],
  expected,
};
