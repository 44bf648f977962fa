import type { EngineSuiteOptions } from '../harness.js';

export function describeEngineBehaviour(_options: EngineSuiteOptions): void {}
