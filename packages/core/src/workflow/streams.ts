import { WritableStream } from 'node:stream/web';
import { NotInWorkflowError } from '../errors/not-in-workflow-error.js';
import { streamNameSchema } from '../world/schemas/streams.js';
import { parseInput } from '../world/validation.js';
import type { World } from '../world/world.js';
import { currentReplay, currentStepContext } from './context.js';
import { type StepDefinition, stepRegistry } from './definitions.js';

/** What a step body can reach while it runs: which run it serves, and the World. */
export interface StepContext {
  world: World;
  runId: string;
  stepId: string;
  /** 1 for the first attempt, then one more per retry. */
  attempt: number;
  /** Aborted when the run is cancelled, the attempt times out, or the worker stops. */
  signal: AbortSignal;
}

/** The internal step that performs a workflow-level stream write, keyed by its own id. */
export const streamWriteStepName = 'cairn:stream-write';

const streamWriteStep: StepDefinition = {
  name: streamWriteStepName,
  fn: (async (name: string, chunk: string | Uint8Array) => {
    const context = currentStepContext();
    if (!context) throw new Error('cairn:stream-write ran outside a step context');
    // The step id is the same on every attempt, so a retry after a crash cannot add the chunk twice.
    await context.world.streams.write(context.runId, name, chunk, { idempotencyKey: context.stepId });
  }) as StepDefinition['fn'],
  options: { maxRetries: 10, backoff: { initialMs: 100, factor: 2, maxMs: 5000 } },
};
stepRegistry.set(streamWriteStepName, streamWriteStep);

/**
 * A writable on one of the run's durable streams (default `'default'`).
 *
 * - In a step: each chunk is written to the World as the step runs. Many steps may write
 *   to one stream at once; chunks never interleave, and each writer's order is kept.
 * - In the workflow: each chunk is recorded through the log, exactly once across replays
 *   and crashes, in workflow order.
 *
 * Closing the writer flushes it; the stream itself closes when the run ends, so other
 * writers are not cut off. Readers use `run.readable(name)`.
 */
export function getWritable(name = 'default'): WritableStream<string | Uint8Array> {
  parseInput(streamNameSchema, name, 'getWritable(name)');
  const replay = currentReplay();
  if (replay) {
    return new WritableStream({
      write: async (chunk) => {
        await replay.callStep(streamWriteStepName, [name, chunk]);
      },
    });
  }
  const context = currentStepContext();
  if (!context) throw new NotInWorkflowError({ api: 'getWritable()', where: 'a workflow function or a step' });
  return new WritableStream({
    write: async (chunk) => {
      await context.world.streams.write(context.runId, name, chunk);
    },
  });
}
