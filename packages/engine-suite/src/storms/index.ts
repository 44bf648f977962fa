import type { EngineSuiteOptions } from '../harness.js';

export function describeRaceStorms(_options: EngineSuiteOptions): void {}
