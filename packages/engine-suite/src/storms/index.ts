import { describe, expect, it } from 'vitest';
import type { EngineSuiteOptions } from '../harness.js';
import { hookSleep } from './hook-sleep.js';
import { hookStorm } from './hook-storm.js';
import { formatReport, runStorm, type StormShape } from './runner.js';
import { scale, stormSeed } from './scale.js';
import { stepStorm } from './step-storm.js';

// biome-ignore lint/suspicious/noExplicitAny: the shapes differ in input and output.
const shapes: StormShape<any, any>[] = [hookSleep, stepStorm, hookStorm];

/**
 * The race storms: many concurrent wakes on each run, with and without the run
 * lease. Every run must complete, with a log that passes the audit and a result that its
 * own log (and a cold replay of it) reproduces: zero divergence errors, zero stuck runs,
 * zero duplicate entities. Each storm prints its counts.
 */
export function describeRaceStorms(options: EngineSuiteOptions): void {
  describe(`${options.name}: race storms (${scale.label} scale)`, () => {
    for (const runLease of [true, false]) {
      describe(runLease ? 'with the run lease' : 'without the run lease', () => {
        for (const shape of shapes) {
          it(
            shape.name,
            async () => {
              const report = await runStorm(options, runLease, shape, stormSeed());
              console.log(formatReport(report));
              expect(report.problems).toEqual([]);
              expect({
                completed: report.completed,
                divergence: report.divergence,
                stuck: report.stuck,
                duplicates: report.duplicates,
                inconsistent: report.inconsistent,
              }).toEqual({ completed: report.runs, divergence: 0, stuck: 0, duplicates: 0, inconsistent: 0 });
            },
            scale.testTimeoutMs,
          );
        }
      });
    }
  });
}
