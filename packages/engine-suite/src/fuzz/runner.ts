import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@cairn/core';
import { drive } from './driver.js';
import type { FuzzCase } from './fuzz-case.js';
import type { ProcessConfig, ProcessReport } from './fuzz-process.js';
import { type CaseProcess, keepingEvidence, killProcess, spawnCaseProcess } from './processes.js';
import { checkProperties, type Violation } from './properties.js';
import {
  type AcceptedRecord,
  type DeliveryRecord,
  type ExecutionRecord,
  type FaultRecord,
  type LeaseLossRecord,
  readRecords,
} from './side-records.js';
import { openWorld, type WorldSpec } from './world-spec.js';

export interface CaseReport {
  fuzzCase: FuzzCase;
  violations: Violation[];
  runs: number;
  kills: number;
  bodyExecutions: number;
  refusedWrites: number;
  /** Deliveries whose lease the World reported lost while their handler ran. */
  leaseLosses: number;
  elapsedMs: number;
}

export interface RunCaseOptions {
  /** A fresh, empty World's spec for this case. */
  world: WorldSpec;
  /** Whether several processes may open the World at once. */
  sharedAcrossProcesses: boolean;
  /** A run not terminal this long after the case started breaks "every run ends". */
  runDeadlineMs: number;
}

/**
 * Runs one case end to end: its processes, its kills on schedule, the driver, then the
 * property checks over the final World and the side records.
 */
export async function runCase(fuzzCase: FuzzCase, options: RunCaseOptions): Promise<CaseReport> {
  const started = Date.now();
  const sideDirectory = await mkdtemp(join(tmpdir(), 'cairn-fuzz-'));
  const killedPids = new Set<number>();
  const processProblems: string[] = [];
  /** Whether the case broke a property; set once it is checked, so a throw counts as failed. */
  let failed = true;
  const deadline = started + options.runDeadlineMs;
  const config = (role: ProcessConfig['role'], index: number): ProcessConfig => ({
    role,
    world: options.world,
    fuzzCase,
    sideDirectory,
    index,
    remainingMs: Math.max(0, deadline - Date.now()),
  });
  const collect = (report: ProcessReport | undefined, caseProcess: CaseProcess) => {
    if (report) processProblems.push(...report.problems);
    else if (!killedPids.has(caseProcess.pid))
      processProblems.push(
        `process ${caseProcess.pid} died without a report (exit code ${caseProcess.child.exitCode}, signal ${caseProcess.child.signalCode}), during ${caseProcess.phase()}: ${caseProcess.stderr().slice(-1500)}`,
      );
    return report;
  };
  try {
    if (options.sharedAcrossProcesses)
      await runShared(
        fuzzCase,
        options,
        config,
        killedPids,
        collect,
        (problems) => processProblems.push(...problems),
        sideDirectory,
        deadline,
      );
    else await runOwned(fuzzCase, config, killedPids, collect, deadline);
    const world = await openWorld(options.world);
    try {
      const evidence = {
        executions: readRecords<ExecutionRecord>(sideDirectory, 'executions'),
        faults: readRecords<FaultRecord>(sideDirectory, 'faults'),
        accepted: readRecords<AcceptedRecord>(sideDirectory, 'accepted'),
        leaseLosses: readRecords<LeaseLossRecord>(sideDirectory, 'lease-losses'),
        deliveries: readRecords<DeliveryRecord>(sideDirectory, 'deliveries'),
        killedPids,
      };
      const violations = await checkProperties(world, evidence);
      failed = violations.length > 0 || processProblems.length > 0;
      for (const problem of processProblems) {
        const property = problem.startsWith('leak')
          ? 'no listeners or timers remain after the run ends'
          : 'the case ran';
        violations.push({ property, runId: '-', detail: problem });
      }
      return {
        fuzzCase,
        violations,
        runs: (await world.runs.list({ limit: 1000 })).data.length,
        kills: killedPids.size,
        bodyExecutions: evidence.executions.length,
        refusedWrites: evidence.faults.length,
        leaseLosses: evidence.leaseLosses.length,
        elapsedMs: Date.now() - started,
      };
    } finally {
      await world.close();
    }
  } finally {
    if (keepingEvidence() && failed)
      console.log(`[fuzz] seed=${fuzzCase.seed}: its records are kept in ${sideDirectory}`);
    else await rm(sideDirectory, { recursive: true, force: true });
  }
}

type Collect = (report: ProcessReport | undefined, caseProcess: CaseProcess) => ProcessReport | undefined;

/** Several worker processes on one World; the test process drives. A killed worker is restarted with its clock. */
async function runShared(
  fuzzCase: FuzzCase,
  options: RunCaseOptions,
  config: (role: ProcessConfig['role'], index: number) => ProcessConfig,
  killedPids: Set<number>,
  collect: Collect,
  reportProblems: (problems: string[]) => void,
  sideDirectory: string,
  deadline: number,
): Promise<void> {
  const start = (index: number) => spawnCaseProcess(config('worker', index), fuzzCase.faults.skewMs[index] ?? 0);
  const workers = Array.from({ length: fuzzCase.workers }, (_, index) => start(index));
  await Promise.all(workers.map((worker) => worker.ready));
  const world = await openWorld(options.world);
  const stopKills = new AbortController();
  const kills = (async () => {
    const origin = Date.now();
    for (const kill of fuzzCase.faults.kills) {
      const wait = origin + kill.atMs - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      if (stopKills.signal.aborted) return;
      const victim = workers[kill.worker]!;
      killedPids.add(victim.pid);
      await killProcess(victim);
      workers[kill.worker] = start(kill.worker);
      await workers[kill.worker]!.ready;
    }
  })();
  try {
    const result = await drive(world, createClient({ world }), fuzzCase, sideDirectory, deadline);
    reportProblems(result.problems);
  } finally {
    stopKills.abort();
    await kills;
    await world.close();
    for (const worker of workers) worker.child.send({ type: 'finish' });
    for (const worker of workers) collect(await worker.report, worker);
  }
}

/** One process owns the World and does everything; killing it is killing the World's host. */
async function runOwned(
  fuzzCase: FuzzCase,
  config: (role: ProcessConfig['role'], index: number) => ProcessConfig,
  killedPids: Set<number>,
  collect: Collect,
  deadline: number,
): Promise<void> {
  let incarnation = 0;
  let owner = spawnCaseProcess(config('owner', 0), fuzzCase.faults.skewMs[0] ?? 0);
  const origin = Date.now();
  for (const kill of fuzzCase.faults.kills) {
    const wait = origin + kill.atMs - Date.now();
    const finished = await Promise.race([
      owner.exited.then(() => true),
      new Promise<false>((resolve) => setTimeout(() => resolve(false), Math.max(0, wait))),
    ]);
    if (finished) break;
    killedPids.add(owner.pid);
    await killProcess(owner);
    incarnation += 1;
    owner = spawnCaseProcess(config('owner', incarnation), fuzzCase.faults.skewMs[incarnation] ?? 0);
  }
  // An owner that gave up driving reports settled: false; the checks then name the runs that never ended.
  const timeout = setTimeout(() => owner.child.kill('SIGKILL'), Math.max(0, deadline - Date.now()) + 15_000);
  try {
    collect(await owner.report, owner);
  } finally {
    clearTimeout(timeout);
  }
}
