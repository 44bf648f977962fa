import type { EngineSuiteOptions } from '../harness.js';
import { describeAuthoring } from './authoring.js';
import { describeChildren } from './children.js';
import { describeDivergence } from './divergence.js';
import { describeInvariant } from './invariant.js';
import { describeMap } from './map.js';
import { describeStalls } from './stalls.js';
import { describeStepAttempts } from './step-attempts.js';
import { describeSteps } from './steps.js';
import { describeStreams } from './streams.js';
import { describeTiming } from './timing.js';

export function describeEngineBehaviour(options: EngineSuiteOptions): void {
  describeInvariant(options);
  describeSteps(options);
  describeStepAttempts(options);
  describeAuthoring(options);
  describeDivergence(options);
  describeMap(options);
  describeChildren(options);
  describeStreams(options);
  describeStalls(options);
  describeTiming(options);
}
