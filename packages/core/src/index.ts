// The authoring API (deterministic, runs inside replays) ...
export {
  FatalError,
  HookWaitTimeoutError,
  MapError,
  NotInWorkflowError,
  ReplayDivergenceError,
  RetryableError,
  RunFailedError,
  RunIdConflictError,
  RunResultTimeoutError,
  StepFailedError,
  WorkflowStalledError,
} from './errors/index.js';
// ... and the runtime that does the I/O around them.
export {
  type Client,
  createClient,
  type HookWaitOptions,
  type ResumeHookOptions,
  type RunHandle,
} from './runtime/client.js';
export { type ReplayVerdict, replayEvents, replayRun } from './runtime/replay-run.js';
export type { BeforeStepAttempt } from './runtime/step-executor.js';
export { findWaitingChildren, type WaitingChild } from './runtime/waiting-children.js';
export {
  createWorker,
  type StopOnSignalsOptions,
  type Worker,
  type WorkerLogger,
  type WorkerOptions,
} from './runtime/worker.js';
export type { BackoffOptions, StepOptions, WorkflowDefinition } from './workflow/definitions.js';
export { type MapOptions, map } from './workflow/map.js';
export {
  type ChildHandle,
  createHook,
  getRunMetadata,
  type Hook,
  now,
  type RunMetadata,
  random,
  sleep,
  startChild,
  step,
  uuid,
  workflow,
} from './workflow/primitives.js';
export { getStepMetadata, type StepMetadata } from './workflow/step-metadata.js';
export { getWritable } from './workflow/streams.js';
export { createWebhook, type Webhook, type WebhookRequest, webhookTokenPrefix } from './workflow/webhook.js';
// The World contract stays importable from the root too, for convenience.
export * from './world/index.js';
