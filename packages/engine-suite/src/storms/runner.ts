import { setMaxListeners } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import { FenceConflictError, type RunHandle, replayRun, type WorkflowDefinition } from '@cairn/core';
import { type EngineSuiteOptions, type Harness, openHarness } from '../harness.js';
import { auditLog, Findings, LogIndex, readLog } from './audit.js';
import { type BurstPlan, driveResumes, ResumeLedger } from './resume.js';
import { type StormScale, scale } from './scale.js';

/** What one storm shape brings: its workflow, its runs' inputs, its bursts and its log checks. */
export interface StormShape<Input, Output> {
  name: string;
  workflow: WorkflowDefinition<Input, Output>;
  inputs(seed: number, scale: StormScale): Input[];
  rounds(input: Input): number;
  /** The outcome counters it reports, in print order. */
  outcomes: string[];
  /** Resume bursts for this run's hooks; shapes without hooks leave it out. */
  bursts?(input: Input, seed: number, scale: StormScale): BurstPlan;
  /**
   * Recomputes the run's result from its log alone and checks every decision in the log
   * follows from the race outcomes the log shows. Counts outcomes (by name) into `tally`.
   */
  expected(log: LogIndex, input: Input, runId: string, findings: Findings, tally: Tally): Output;
}

export type Tally = Map<string, number>;
export const bump = (tally: Tally, key: string, by = 1): void => {
  tally.set(key, (tally.get(key) ?? 0) + by);
};

export interface StormReport {
  shape: string;
  world: string;
  runLease: boolean;
  seed: number;
  runs: number;
  rounds: number;
  completed: number;
  divergence: number;
  stuck: number;
  /** Failed for any reason but divergence. */
  failed: number;
  duplicates: number;
  /** Results that disagree with their own log (recomputed, or cold-replayed). */
  inconsistent: number;
  resumesAccepted: number;
  resumesRefused: number;
  /** Fenced appends that lost their fence: the races the engine had to re-derive. */
  fenceConflicts: number;
  tally: Tally;
  elapsedMs: number;
  problems: string[];
}

/** Counts the engine's lost fences by watching the appends it makes through the harness's World. */
function countFenceConflicts(harness: Harness, report: StormReport): void {
  const events = harness.world.events;
  const { create, createBatch } = events;
  const counted = <Result>(promise: Promise<Result>) =>
    promise.catch((error: unknown) => {
      if (FenceConflictError.is(error)) report.fenceConflicts += 1;
      throw error;
    });
  events.create = (runId, request, params) => counted(create(runId, request, params));
  events.createBatch = (runId, requests, params) => counted(createBatch(runId, requests, params));
}

type Settled<Output> = { ok: true; output: Output } | { ok: false; error: unknown };

/**
 * One storm: `scale.runs` runs of the shape, started together on one World with several
 * workers, resumed in bursts where the shape has hooks, each awaited to a terminal status
 * (a run that does not get there in `scale.stuckAfterMs` is stuck), then audited.
 */
export interface StormHooks {
  /** Starts whatever orchestrates the runs. Default: in-process workers on the harness's World. */
  startWorkers?(harness: Harness, runLease: boolean, shape: StormShape<unknown, unknown>): Promise<void>;
  /** Runs alongside the storm once the runs have started: e2e tests kill a worker or restart the database here. */
  duringRun?(harness: Harness, runIds: string[]): Promise<void>;
}

export async function runStorm<Input, Output>(
  options: EngineSuiteOptions,
  runLease: boolean,
  shape: StormShape<Input, Output>,
  seed: number,
  hooks: StormHooks = {},
): Promise<StormReport> {
  const started = Date.now();
  const report: StormReport = {
    shape: shape.name,
    world: options.name,
    runLease,
    seed,
    runs: 0,
    rounds: 0,
    completed: 0,
    divergence: 0,
    stuck: 0,
    failed: 0,
    duplicates: 0,
    inconsistent: 0,
    resumesAccepted: 0,
    resumesRefused: 0,
    fenceConflicts: 0,
    tally: new Map(shape.outcomes.map((key) => [key, 0])),
    elapsedMs: 0,
    problems: [],
  };
  const harness = await openHarness(options, runLease);
  try {
    countFenceConflicts(harness, report);
    if (hooks.startWorkers) {
      await hooks.startWorkers(harness, runLease, shape as StormShape<unknown, unknown>);
    } else {
      const workers = runLease ? scale.workers.lease : scale.workers.noLease;
      for (let index = 0; index < workers; index++) await harness.startWorker({ workflows: [shape.workflow] });
    }
    const inputs = shape.inputs(seed, scale);
    report.runs = inputs.length;
    report.rounds = inputs.reduce((sum, input) => sum + shape.rounds(input), 0);
    const handles: RunHandle<Output>[] = await Promise.all(
      inputs.map((input) => harness.client.start(shape.workflow, input)),
    );
    const deadline = new AbortController();
    // Every run's result() and burst driver listens on this one signal.
    setMaxListeners(0, deadline.signal);
    const timer = setTimeout(() => deadline.abort(), scale.stuckAfterMs);
    const ledger = new ResumeLedger();
    const drivers = shape.bursts
      ? handles.map((handle, index) =>
          driveResumes(
            harness,
            handle.id,
            shape.bursts!(inputs[index]!, seed, scale),
            scale.burstSize,
            ledger,
            deadline.signal,
          ),
        )
      : [];
    const disruption = hooks.duringRun?.(
      harness,
      handles.map((handle) => handle.id),
    );
    let outcomes: Settled<Output>[];
    try {
      outcomes = await Promise.all(
        handles.map((handle) =>
          handle.result({ signal: deadline.signal }).then(
            (output): Settled<Output> => ({ ok: true, output }),
            (error: unknown): Settled<Output> => ({ ok: false, error }),
          ),
        ),
      );
      await Promise.all(drivers);
      await disruption;
    } finally {
      clearTimeout(timer);
      deadline.abort();
    }
    report.resumesAccepted = ledger.acceptedCount;
    report.resumesRefused = ledger.refused;
    report.problems.push(...ledger.unexpected);
    for (const [index, handle] of handles.entries()) {
      await auditRun(harness, shape, inputs[index]!, handle.id, outcomes[index]!, ledger, report);
    }
  } finally {
    await harness.close();
  }
  report.elapsedMs = Date.now() - started;
  return report;
}

async function auditRun<Input, Output>(
  harness: Harness,
  shape: StormShape<Input, Output>,
  input: Input,
  runId: string,
  outcome: Settled<Output>,
  ledger: ResumeLedger,
  report: StormReport,
): Promise<void> {
  const findings = new Findings(`${shape.name} run ${runId}`);
  const run = await harness.world.runs.get(runId);
  const events = await readLog(harness.world, runId);
  const audit = auditLog(events);
  for (const problem of audit.problems) findings.fail(problem);
  report.duplicates += audit.duplicates;
  if (run.status === 'completed') report.completed += 1;
  else if (run.status === 'pending' || run.status === 'running') {
    report.stuck += 1;
    const tail = events.slice(-4).map((event) => `${event.seq}:${event.eventType}`);
    findings.fail(`stuck: still ${run.status} after ${scale.stuckAfterMs} ms, log ends ${tail.join(' ')}`);
  } else if (audit.diverged) {
    report.divergence += 1;
    findings.fail(`diverged: ${run.error?.message}`);
  } else {
    report.failed += 1;
    findings.fail(`ended ${run.status}: ${run.error?.name}: ${run.error?.message}`);
  }

  // Every accepted resume is in its hook's log exactly once, and nothing else is.
  const log = new LogIndex(events);
  for (const hook of log.hooks) {
    const delivered = hook.received.map((entry) => String(entry.payload)).sort();
    const accepted = [...(ledger.accepted.get(hook.token) ?? [])].sort();
    findings.check(
      isDeepStrictEqual(delivered, accepted),
      `hook ${hook.token}: log holds payloads [${delivered}], accepted resumes were [${accepted}]`,
    );
  }
  if (!outcome.ok || run.status !== 'completed') {
    report.problems.push(...findings.problems);
    return;
  }

  // The result is consistent with the log: recomputed from the log alone, it is the same.
  const problemsBefore = findings.problems.length;
  const expected = shape.expected(log, input, runId, findings, report.tally);
  findings.check(
    isDeepStrictEqual(expected, outcome.output),
    `result disagrees with its log:\n  returned   ${JSON.stringify(outcome.output)}\n  recomputed ${JSON.stringify(expected)}`,
  );
  // And a fresh cold replay of the whole log reaches the same result.
  const verdict = await replayRun(harness.world, shape.workflow, runId);
  findings.check(
    verdict.status === 'completed' && isDeepStrictEqual(verdict.output, outcome.output),
    `cold replay disagrees: ${JSON.stringify(verdict.status === 'diverged' ? verdict.error.message : verdict)}`,
  );
  if (findings.problems.length > problemsBefore) report.inconsistent += 1;
  report.problems.push(...findings.problems);
}

/** The storm's counts as one block, for CI output. */
export function formatReport(report: StormReport): string {
  const tally = [...report.tally].map(([key, count]) => `${key} ${count}`).join(', ');
  return [
    `[race storm] ${report.world} ${report.shape} runLease=${report.runLease} scale=${scale.label} seed=${report.seed} (${(report.elapsedMs / 1000).toFixed(1)} s)`,
    `  runs ${report.runs}, rounds ${report.rounds}, completed ${report.completed}`,
    `  divergence errors ${report.divergence}, stuck ${report.stuck}, other failures ${report.failed}, duplicate entities ${report.duplicates}, inconsistent results ${report.inconsistent}`,
    `  hook resumes accepted ${report.resumesAccepted}, refused ${report.resumesRefused}; fence conflicts re-derived ${report.fenceConflicts}`,
    `  outcomes: ${tally || 'none'}`,
    ...(report.problems.length > 0
      ? [`  ${report.problems.length} problems:`, ...report.problems.slice(0, 20).map((problem) => `    ${problem}`)]
      : []),
  ].join('\n');
}
