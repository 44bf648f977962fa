// The storms without vitest, for processes that only host workers (e2e) and for e2e tests
// that drive the storms with workers in other processes.
export { hookSleep } from './hook-sleep.js';
export { hookStorm } from './hook-storm.js';
export { formatReport, runStorm, type StormHooks, type StormReport, type StormShape } from './runner.js';
export { scale, stormSeed } from './scale.js';
export { stepStorm } from './step-storm.js';
