import { createHook, getRunMetadata, sleep, step, workflow } from '@cairn/core';
import type { Findings, LogIndex } from './audit.js';
import type { BurstPlan } from './resume.js';
import { bump, type StormShape, type Tally } from './runner.js';
import { between, range, type StormScale } from './scale.js';

/*
 * hook-sleep: a loop races a hook read against a sleep made of several short sleeps
 * (`Promise.all`), and the test aims bursts of resumes at the sleep's deadline. The
 * decision after each race (a step named for the winner, carrying the hook's payload) and
 * the hook's disposal follow from whichever the log holds first: the hook's first
 * delivery, or the last of the round's sleeps completing.
 */

export interface HookSleepInput {
  seed: number;
  index: number;
  rounds: number;
}

export interface HookSleepRound {
  round: number;
  won: 'hook' | 'sleep';
  payload: string | null;
  /** The output of the step the winner led to. */
  after: string;
}

export interface HookSleepOutput {
  runId: string;
  rounds: HookSleepRound[];
}

/** The round's short sleeps, in ms: two to four of them, 8–40 ms each. */
export const roundSleeps = (input: HookSleepInput, round: number): number[] =>
  range(between(2, 4, input.seed, input.index, round, 0)).map((slot) =>
    between(8, 40, input.seed, input.index, round, 1, slot),
  );

const hookToken = (runId: string, round: number) => `${runId}:hs:${round}`;

const afterHook = step('storm.hs.after-hook', async (round: number, payload: string) => `hook:${round}:${payload}`);
const afterSleep = step('storm.hs.after-sleep', async (round: number) => `sleep:${round}`);

export const hookSleepWorkflow = workflow('storm.hook-sleep', async (input: HookSleepInput) => {
  const { runId } = getRunMetadata();
  const rounds: HookSleepRound[] = [];
  for (let round = 0; round < input.rounds; round++) {
    const hook = createHook<string>({ token: hookToken(runId, round) });
    const read = hook[Symbol.asyncIterator]()
      .next()
      .then((first) => ({ won: 'hook' as const, payload: first.value as string }));
    const timer = Promise.all(roundSleeps(input, round).map((ms) => sleep(ms))).then(() => ({
      won: 'sleep' as const,
      payload: null,
    }));
    const first = await Promise.race([read, timer]);
    hook.dispose();
    const after = first.won === 'hook' ? await afterHook(round, first.payload) : await afterSleep(round);
    rounds.push({ round, ...first, after });
  }
  return { runId, rounds };
});

/** Bursts straddle the round's deadline (the latest of its sleeps' resumeAt). */
function bursts(input: HookSleepInput, seed: number, scale: StormScale): BurstPlan {
  return (token, waits) => {
    const round = Number(token.split(':hs:')[1]);
    const first = range(round).reduce((sum, earlier) => sum + roundSleeps(input, earlier).length, 0);
    const count = roundSleeps(input, round).length;
    if (waits.length < first + count) return undefined;
    const deadline = Math.max(...waits.slice(first, first + count).map((wait) => wait.resumeAt));
    // Around the deadline (later more than earlier: a wait completes a little after its
    // resumeAt), so either side can win.
    return range(scale.bursts).map((burst) => deadline + between(-8, 20, seed, input.index, round, burst));
  };
}

function expected(
  log: LogIndex,
  input: HookSleepInput,
  runId: string,
  findings: Findings,
  tally: Tally,
): HookSleepOutput {
  const rounds: HookSleepRound[] = [];
  let waitIndex = 0;
  let previousEnd = 0;
  for (let round = 0; round < input.rounds; round++) {
    const at = `round ${round}`;
    const hook = log.hook(hookToken(runId, round));
    const count = roundSleeps(input, round).length;
    const waits = log.waits.slice(waitIndex, waitIndex + count);
    waitIndex += count;
    if (!findings.check(hook !== undefined && waits.length === count, `${at}: hook or its ${count} sleeps missing`))
      break;
    findings.check(hook!.createdSeq > previousEnd, `${at}: hook created before the previous round ended`);
    const delivered = hook!.received[0];
    const sleepsDone = waits.every((wait) => wait.completedSeq !== undefined)
      ? Math.max(...waits.map((wait) => wait.completedSeq!))
      : undefined;
    const hookWon = delivered !== undefined && (sleepsDone === undefined || delivered.seq < sleepsDone);
    if (!findings.check(hookWon || sleepsDone !== undefined, `${at}: neither the hook nor the sleeps settled`)) break;
    const decidedAt = hookWon ? delivered!.seq : sleepsDone!;
    const payload = hookWon ? (delivered!.payload as string) : null;
    bump(tally, hookWon ? 'hook won' : 'sleep won');
    const next = hookWon ? log.step('storm.hs.after-hook', round, payload) : log.step('storm.hs.after-sleep', round);
    const other = hookWon
      ? log.stepsOfRound('storm.hs.after-sleep', round)
      : log.stepsOfRound('storm.hs.after-hook', round);
    findings.check(other.length === 0, `${at}: ${hookWon ? 'hook' : 'sleep'} won, but the loser's step was created`);
    if (!findings.check(next?.completedSeq !== undefined, `${at}: the winner's step is missing or unfinished`)) break;
    findings.check(next!.createdSeq > decidedAt, `${at}: the winner's step was created before the race was decided`);
    findings.check(
      hook!.disposedSeq !== undefined && hook!.disposedSeq > decidedAt,
      `${at}: the hook was not disposed after the race`,
    );
    previousEnd = next!.completedSeq!;
    rounds.push({ round, won: hookWon ? 'hook' : 'sleep', payload, after: next!.output as string });
  }
  return { runId, rounds };
}

export const hookSleep: StormShape<HookSleepInput, HookSleepOutput> = {
  name: 'hook-sleep',
  workflow: hookSleepWorkflow,
  inputs: (seed, scale) => range(scale.runs).map((index) => ({ seed, index, rounds: scale.rounds * 2 })),
  rounds: (input) => input.rounds,
  outcomes: ['hook won', 'sleep won'],
  bursts,
  expected,
};
