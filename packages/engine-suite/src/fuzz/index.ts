import { describe, expect, it } from 'vitest';
import { allFaultKinds, buildCase, type FaultKind } from './fuzz-case.js';
import { knownDefects } from './known-defects.js';
import { allFeatures, type Feature } from './program.js';
import { fuzzSeed } from './random.js';
import { type CaseReport, runCase } from './runner.js';
import type { WorldSpec } from './world-spec.js';

export { knownDefects } from './known-defects.js';
export type { CaseReport } from './runner.js';
export type { WorldSpec } from './world-spec.js';

export interface FuzzOptions {
  /** Shown in test titles. */
  name: string;
  /** A fresh, empty World for one case, as a spec any process can open. */
  world: () => WorldSpec | Promise<WorldSpec>;
  /** Whether several processes may open the World at once (world-local: no; one process owns it). */
  sharedAcrossProcesses: boolean;
  /**
   * Called with the spec `world()` gave a case once that case has ended and its processes
   * are gone, pass or fail: to release what stands behind the spec (a server in this
   * process, say), so a long soak does not pile them up.
   */
  afterCase?: (world: WorldSpec) => void | Promise<void>;
}

const soak = process.env.CAIRN_SOAK === '1';
const everything = process.env.CAIRN_FUZZ_ALL === '1';
/**
 * Cases per World: `CAIRN_FUZZ_COUNT`; otherwise 1 when `CAIRN_FUZZ_SEED` pins the seed,
 * 3 at CI scale and 3400 (of at least 3 runs each) in soak mode. Case `i` uses seed `base + i`.
 */
const caseCount = Number(process.env.CAIRN_FUZZ_COUNT ?? (process.env.CAIRN_FUZZ_SEED ? 1 : soak ? 3400 : 3));
/**
 * Cases run at once: `CAIRN_FUZZ_PARALLEL`, default 1 at CI scale and 6 in soak mode. Each
 * case has its own World and worker processes, and most of a case's time is spent waiting
 * on sleeps, leases and killed workers, so cases overlap well even on two cores.
 */
const parallelCases = Math.max(1, Number(process.env.CAIRN_FUZZ_PARALLEL ?? (soak ? 6 : 1)));
/**
 * How long a case's runs have to end (`CAIRN_FUZZ_DEADLINE_MS`, default 30 s). Raise it when
 * soaking on a loaded machine, where "every run ends" would otherwise trip on slowness alone.
 */
const runDeadlineMs = Number(process.env.CAIRN_FUZZ_DEADLINE_MS ?? 30_000);

/** A comma-separated subset from the environment, each name checked against `known`. */
function listFromEnvironment<Name extends string>(variable: string, known: readonly Name[]): Set<Name> | undefined {
  const value = process.env[variable];
  if (value === undefined || value === '') return undefined;
  if (value === 'none') return new Set();
  const names = value.split(',').map((name) => name.trim());
  for (const name of names)
    if (!known.includes(name as Name))
      throw new TypeError(`${variable}: unknown name ${JSON.stringify(name)}; known: ${known.join(', ')}`);
  return new Set(names as Name[]);
}

/**
 * The features and faults this run generates: `CAIRN_FUZZ_FEATURES` and `CAIRN_FUZZ_FAULTS`
 * (comma-separated, or `none`) when set, else all of them; less the known defects' unless `CAIRN_FUZZ_ALL=1`.
 */
export function enabledShapes(): { features: Set<Feature>; faults: Set<FaultKind> } {
  const features = listFromEnvironment('CAIRN_FUZZ_FEATURES', allFeatures) ?? new Set(allFeatures);
  const faults = listFromEnvironment('CAIRN_FUZZ_FAULTS', allFaultKinds) ?? new Set(allFaultKinds);
  if (!everything)
    for (const defect of knownDefects) {
      if ('feature' in defect.omits) features.delete(defect.omits.feature);
      else faults.delete(defect.omits.fault);
    }
  return { features, faults };
}

/** A failed case as text: its seed (to reproduce), its faults, its programs, and what broke. */
export function formatCase(report: CaseReport, name: string): string {
  const { fuzzCase } = report;
  return [
    `[fuzz] ${name} seed=${fuzzCase.seed}: ${report.violations.length} violations — reproduce with CAIRN_FUZZ_SEED=${fuzzCase.seed}${everything ? ' CAIRN_FUZZ_ALL=1' : ''}`,
    ...report.violations.map((violation) => `  [${violation.property}] ${violation.runId}: ${violation.detail}`),
    `  faults: ${JSON.stringify({ workers: fuzzCase.workers, concurrency: fuzzCase.workerConcurrency, ...fuzzCase.faults })}`,
    ...fuzzCase.programs.map((program, index) => `  program ${index}: ${JSON.stringify(program)}`),
  ].join('\n');
}

/**
 * Registers the workflow fuzzer against a World: seeded cases of random programs under
 * injected faults, each checked against the properties. A fixed `CAIRN_FUZZ_SEED` runs
 * that one case; otherwise each case gets a fresh seed, printed.
 */
export function describeWorkflowFuzz(options: FuzzOptions): void {
  describe(`${options.name}: workflow fuzz (${soak ? 'soak' : 'ci'} scale)`, () => {
    it(
      'random programs under faults keep every property',
      async () => {
        const base = fuzzSeed();
        const seeds = Array.from({ length: caseCount }, (_, index) => (base + index) >>> 0);
        const shapes = enabledShapes();
        const failed: string[] = [];
        let programs = 0;
        const started = Date.now();
        const pending = [...seeds];
        let finished = 0;
        const lane = async () => {
          for (let seed = pending.shift(); seed !== undefined; seed = pending.shift()) {
            const fuzzCase = buildCase(seed, { ...shapes, sharedAcrossProcesses: options.sharedAcrossProcesses });
            const world = await options.world();
            let report: CaseReport;
            try {
              report = await runCase(fuzzCase, {
                world,
                sharedAcrossProcesses: options.sharedAcrossProcesses,
                runDeadlineMs,
              });
            } finally {
              await options.afterCase?.(world);
            }
            programs += report.runs;
            finished += 1;
            if (report.violations.length > 0) {
              failed.push(String(seed));
              console.log(formatCase(report, options.name));
            }
            if (soak && finished % 100 === 0) {
              console.log(
                `[fuzz] ${options.name}: ${finished}/${seeds.length} cases, ${programs} runs, failed: ${failed.length}`,
              );
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(parallelCases, seeds.length) }, lane));
        console.log(
          `[fuzz] ${options.name}: ${seeds.length} cases, ${programs} runs (children included) in ${((Date.now() - started) / 1000).toFixed(1)} s; seeds ${seeds[0]}..${seeds.at(-1)}; failed seeds: ${failed.join(', ') || 'none'}`,
        );
        expect(failed).toEqual([]);
      },
      soak ? 24 * 3600_000 : 120_000,
    );
  });
}
