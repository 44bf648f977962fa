import { describeEngineBehaviour } from './engine/index.js';
import type { EngineSuiteOptions } from './harness.js';
import { describeRaceStorms } from './storms/index.js';

export { describeWorkflowFuzz, type FuzzOptions, knownDefects, type WorldSpec } from './fuzz/index.js';
export { faketimeLibrary } from './fuzz/processes.js';
export type { EngineSuiteOptions, Harness } from './harness.js';
export { openHarness } from './harness.js';

/** Registers the engine behaviour tests and the race storms against a World factory. */
export function describeEngineSuite(options: EngineSuiteOptions): void {
  describeEngineBehaviour(options);
  describeRaceStorms(options);
}
