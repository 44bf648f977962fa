import type { EngineSuiteOptions } from '../harness.js';
import { describeAuthoring } from './authoring.js';
import { describeChildren } from './children.js';
import { describeClaimedPasses } from './claimed-passes.js';
import { describeClientWaits } from './client-waits.js';
import { describeDivergence } from './divergence.js';
import { describeGuards } from './guards.js';
import { describeHookDelivery } from './hook-delivery.js';
import { describeInvariant } from './invariant.js';
import { describeMap } from './map.js';
import { describeRunWaiting } from './run-waiting.js';
import { describeStalls } from './stalls.js';
import { describeStepAttempts } from './step-attempts.js';
import { describeSteps } from './steps.js';
import { describeStreams } from './streams.js';
import { describeTiming } from './timing.js';
import { describeWorkers } from './workers.js';
import { describeWorldClock } from './world-clock.js';

export function describeEngineBehaviour(options: EngineSuiteOptions): void {
  describeInvariant(options);
  describeClaimedPasses(options);
  describeSteps(options);
  describeStepAttempts(options);
  describeAuthoring(options);
  describeDivergence(options);
  describeMap(options);
  describeChildren(options);
  describeStreams(options);
  describeStalls(options);
  describeTiming(options);
  describeWorldClock(options);
  describeClientWaits(options);
  describeHookDelivery(options);
  describeWorkers(options);
  describeRunWaiting(options);
  describeGuards(options);
}
