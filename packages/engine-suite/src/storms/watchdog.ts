import type { Findings, LogIndex, StepSeen } from './audit.js';
import { bump, type Tally } from './runner.js';
import { range } from './scale.js';

/*
 * The log checks step-storm and hook-storm share: what a branch must have done once its
 * race is decided (watchdog: two steps in sequence; settle: one), its `finally` step after
 * all of that, and the round's reconcile fan-out after every branch's `finally`.
 */

/** What a round of a watchdog storm returns. */
export interface RoundSummary {
  outcomes: string[];
  /** The reconcile steps' outputs, one per watchdog win. */
  reconciled: string[];
}

/** The step names of one watchdog storm. Every step takes (round, branch, …) or (round, slot). */
export interface BranchSteps {
  watchdogA: string;
  watchdogB: string;
  settle: string;
  cleanup: string;
  reconcile: string;
}

const ofBranch = (log: LogIndex, name: string, round: number, branch: number): StepSeen[] =>
  log.stepsOfRound(name, round).filter((seen) => (seen.input as unknown[])[1] === branch);

/**
 * Checks one branch's steps after its race, decided at seq `decidedAt` for `won`
 * ('watchdog', or anything else for the settle side, whose step takes `settleArgs`).
 * Returns the seq where the branch's `finally` step completed, or undefined when the log
 * is too broken to go on.
 */
export function checkBranch(
  log: LogIndex,
  names: BranchSteps,
  findings: Findings,
  at: string,
  round: number,
  branch: number,
  race: { won: string; decidedAt: number; settleArgs: unknown[] },
): number | undefined {
  const completed = (seen: StepSeen | undefined, what: string, after: number): seen is StepSeen => {
    if (!findings.check(seen !== undefined, `${at}: ${what} step missing`)) return false;
    findings.check(
      seen!.createdSeq > after,
      `${at}: ${what} step created at seq ${seen!.createdSeq}, before seq ${after}`,
    );
    return findings.check(seen!.completedSeq !== undefined, `${at}: ${what} step never completed`);
  };
  let lastDone: number;
  if (race.won === 'watchdog') {
    findings.check(
      ofBranch(log, names.settle, round, branch).length === 0,
      `${at}: the watchdog won, but the settle step was created`,
    );
    const a = log.step(names.watchdogA, round, branch);
    if (!completed(a, 'first watchdog', race.decidedAt)) return undefined;
    const b = log.step(names.watchdogB, round, branch, a.output);
    if (!completed(b, 'second watchdog', a.completedSeq!)) return undefined;
    findings.check(ofBranch(log, names.watchdogB, round, branch).length === 1, `${at}: second watchdog step twice`);
    lastDone = b.completedSeq!;
  } else {
    for (const name of [names.watchdogA, names.watchdogB]) {
      findings.check(
        ofBranch(log, name, round, branch).length === 0,
        `${at}: the race settled, but ${name} was created`,
      );
    }
    const settle = log.step(names.settle, ...race.settleArgs);
    if (!completed(settle, 'settle', race.decidedAt)) return undefined;
    findings.check(ofBranch(log, names.settle, round, branch).length === 1, `${at}: settle step twice`);
    lastDone = settle.completedSeq!;
  }
  const cleanup = log.step(names.cleanup, round, branch);
  if (!completed(cleanup, 'finally', lastDone)) return undefined;
  return cleanup.completedSeq;
}

/**
 * Checks a round's reconcile fan-out: exactly one step per watchdog win, each created after
 * every branch's `finally` completed. Returns the round's summary and the seq where the
 * round ended, or undefined when the log is too broken to go on.
 */
export function checkReconcile(
  log: LogIndex,
  names: BranchSteps,
  findings: Findings,
  round: number,
  outcomes: string[],
  branchEnds: number[],
  tally: Tally,
): { round: RoundSummary; end: number } | undefined {
  const wins = outcomes.filter((outcome) => outcome === 'watchdog').length;
  const branchesDone = Math.max(...branchEnds);
  const created = log.stepsOfRound(names.reconcile, round);
  findings.check(
    created.length === wins,
    `round ${round}: ${created.length} reconcile steps for ${wins} watchdog wins (${outcomes.join(' ')})`,
  );
  const reconciled: string[] = [];
  let end = branchesDone;
  for (const slot of range(wins)) {
    const seen = log.step(names.reconcile, round, slot);
    if (!findings.check(seen?.completedSeq !== undefined, `round ${round}: reconcile ${slot} missing or unfinished`))
      return undefined;
    findings.check(
      seen!.createdSeq > branchesDone,
      `round ${round}: reconcile ${slot} created at seq ${seen!.createdSeq}, before the branches ended at seq ${branchesDone}`,
    );
    reconciled.push(seen!.output as string);
    end = Math.max(end, seen!.completedSeq!);
  }
  bump(tally, 'reconcile steps', wins);
  return { round: { outcomes, reconciled }, end };
}
