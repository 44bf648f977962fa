export * from './errors/index.js';
export { type CommitStamp, formatEventId, nextCommitStamp, RunDraft, type RunEntityReader } from './run-draft.js';
export * from './schemas/entities.js';
export * from './schemas/events.js';
export * from './schemas/primitives.js';
export * from './schemas/queue.js';
export * from './schemas/streams.js';
export { parseInput } from './validation.js';
export type * from './world.js';
