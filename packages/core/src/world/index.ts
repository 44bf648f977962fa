// The logger lives with the runtime but is exported here too, so a World can take the same
// `logger` option without importing the engine.
export {
  type CompleteLogger,
  type ConsoleLoggerOptions,
  createConsoleLogger,
  filterLogger,
  type LogDetails,
  type Logger,
  type LogLevel,
  logLevels,
  resolveLogger,
} from '../runtime/logger.js';
export {
  type AppendInput,
  listEventsOptionsSchema,
  parseAppendInput,
  watchAnswersAt,
  watchOptionsSchema,
} from './append-input.js';
export { type Clock, type ScheduledCallback, systemClock, timerClock, toClock } from './clock.js';
export { extendDeliveryClaim, settleDeliveryClaim } from './delivery-claims.js';
export * from './errors/index.js';
export {
  type DeliveryConsumer,
  type DeliveryHandle,
  deliverLeased,
  type LeasedDelivery,
  type LeasedMessage,
  type RetryBackoff,
  retryBackoffMs,
} from './queue-delivery.js';
export { type CommitStamp, formatEventId, nextCommitStamp, RunDraft, type RunEntityReader } from './run-draft.js';
export * from './schemas/entities.js';
export * from './schemas/events.js';
export * from './schemas/primitives.js';
export * from './schemas/queue.js';
export * from './schemas/streams.js';
export { ulid } from './ulid.js';
export { parseInput } from './validation.js';
export type * from './world.js';
