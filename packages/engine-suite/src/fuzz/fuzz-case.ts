import { noWorldFaults, type WorldFaults } from './faulty-world.js';
import { allFeatures, type Feature, generateProgram, type ProgramNode } from './program.js';
import { Random } from './random.js';

/** Faults the fuzzer can inject; a test leaves out the ones whose defects are open. */
export type FaultKind =
  | 'worker-kill'
  | 'lease-expiry'
  | 'clock-skew'
  | 'failed-sends'
  | 'delayed-appends'
  | 'hook-bursts'
  | 'cancels';

export const allFaultKinds: readonly FaultKind[] = [
  'worker-kill',
  'lease-expiry',
  'clock-skew',
  'failed-sends',
  'delayed-appends',
  'hook-bursts',
  'cancels',
];

/** What one case injects. */
export interface FaultPlan {
  /** Times (ms after the runs start) at which one worker process is SIGKILLed and restarted. */
  kills: { atMs: number; worker: number }[];
  /** `orchestrationLeaseMs` of every worker. */
  orchestrationLeaseMs: number;
  /** Clock offset of each worker process (via faketime); for a World one process owns, of each incarnation. */
  skewMs: number[];
  world: WorldFaults;
  /** Hook payloads go out in bursts aimed at the run's pending sleeps, rather than as soon as the hook exists. */
  hookBursts: boolean;
  /**
   * Runs the driver cancels: program `program`'s run, `atMs` after the runs start. With
   * `cancellerDies`, the process cancelling dies as soon as the run's own cancel has
   * committed, before it cancels a single child: the cascade is left to the workers. With
   * `child`, the cancel goes to one of the run's open child runs instead, when it has one
   * then, so a parent meets a child that ends cancelled.
   */
  cancels: { program: number; atMs: number; cancellerDies: boolean; child: boolean }[];
}

/** One case: a few programs run side by side on one fresh World, under one fault plan. */
export interface FuzzCase {
  seed: number;
  programs: ProgramNode[];
  faults: FaultPlan;
  /** Worker processes (on a World one process owns, always one). */
  workers: number;
  /** Each worker's `concurrency`: small values push steps to the queue instead of running them inline. */
  workerConcurrency: number;
}

export interface CaseOptions {
  features?: ReadonlySet<Feature>;
  faults?: ReadonlySet<FaultKind>;
  /** Programs per case. Default 3. */
  programs?: number;
  /** Whether several processes may open the World (else one process owns it and is the one killed). */
  sharedAcrossProcesses: boolean;
}

/** Builds a case from its seed alone: the same seed and options give the same case. */
export function buildCase(seed: number, options: CaseOptions): FuzzCase {
  const random = new Random(seed);
  const faults = options.faults ?? new Set(allFaultKinds);
  const features = options.features ?? new Set(allFeatures);
  const plan = random.fork('faults');
  const workers = options.sharedAcrossProcesses ? plan.int(1, 3) : 1;
  const leaseExpiry = faults.has('lease-expiry') && plan.chance(0.5);
  const kills: FaultPlan['kills'] = [];
  if (faults.has('worker-kill')) {
    let atMs = 0;
    for (let index = plan.int(0, 3); index > 0; index--) {
      atMs += plan.int(150, 1200);
      kills.push({ atMs, worker: plan.int(0, workers - 1) });
    }
  }
  const incarnations = options.sharedAcrossProcesses ? workers : kills.length + 1;
  const skewMs = Array.from({ length: incarnations }, () =>
    faults.has('clock-skew') && plan.chance(0.5) ? plan.int(-1500, 1500) : 0,
  );
  const world: WorldFaults = {
    ...noWorldFaults,
    failSendProbability: faults.has('failed-sends') && plan.chance(0.5) ? plan.pick([0.05, 0.15, 0.3]) : 0,
    delayAppendMaxMs: faults.has('delayed-appends') && plan.chance(0.5) ? plan.int(5, 60) : 0,
  };
  const workerConcurrency = plan.int(1, 6);
  const programRandom = random.fork('programs');
  const programs = Array.from({ length: options.programs ?? 3 }, () =>
    generateProgram(programRandom, { features, maxStepMs: leaseExpiry ? 250 : 80, maxLeaves: 14 }),
  );
  // A fork of its own, so the cases of a seed that drew no cancels stay as they were.
  const cancelPlan = random.fork('cancels');
  const cancels: FaultPlan['cancels'] = [];
  if (faults.has('cancels') && cancelPlan.chance(0.4))
    for (const program of programs.keys())
      if (cancelPlan.chance(0.4))
        cancels.push({
          program,
          atMs: cancelPlan.int(0, 1500),
          cancellerDies: cancelPlan.chance(0.5),
          child: cancelPlan.chance(0.3),
        });
  return {
    seed,
    programs,
    workers,
    workerConcurrency,
    faults: {
      kills,
      // A SIGKILLed worker's messages come back only when their lease runs out, so with
      // kills the lease is short enough for the case's deadline (as an operator would set it).
      orchestrationLeaseMs: leaseExpiry ? plan.int(300, 800) : kills.length > 0 ? 3000 : 5 * 60_000,
      skewMs,
      world,
      hookBursts: faults.has('hook-bursts') && plan.chance(0.6),
      cancels,
    },
  };
}

/** The run id of program `index` of a case: chosen by the driver, so a restarted owner re-starts the same runs. */
export const caseRunId = (seed: number, index: number): string => `fuzz-${seed}-${index}`;
