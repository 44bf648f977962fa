export { FatalError } from './fatal-error.js';
export { MapError } from './map-error.js';
export { ReplayDivergenceError } from './replay-divergence-error.js';
export { RetryableError } from './retryable-error.js';
export { RunFailedError } from './run-failed-error.js';
export { StepFailedError } from './step-failed-error.js';
export { WorkflowStalledError } from './workflow-stalled-error.js';
