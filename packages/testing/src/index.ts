export { type Duration, toMilliseconds } from './duration.js';
export {
  createTestEnvironment,
  type TestEnvironment,
  type TestEnvironmentOptions,
  type TestWaitOptions,
} from './environment.js';
export { Faults } from './faults.js';
export { InjectedFaultError } from './injected-fault-error.js';
export { checkReplay, exportRun, type RecordedRun } from './replay.js';
export { TestWaitTimeoutError } from './test-wait-timeout-error.js';
export { VirtualClock } from './virtual-clock.js';
export { WorldClockMismatchError } from './world-clock-mismatch-error.js';
