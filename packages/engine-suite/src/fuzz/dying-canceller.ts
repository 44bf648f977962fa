import { type Client, createClient } from '@cairn/core';
import type { World } from '@cairn/core/world';
import { overlay } from './overlay.js';

/** What a dying canceller's `cancel` rejects with: the answer of its commit never came back. */
export class CancellerDiedError extends Error {
  constructor(runId: string) {
    super(`the process cancelling run ${runId} died right after its cancel committed`);
    this.name = 'CancellerDiedError';
  }
}

/**
 * A client in a process that dies right after the first cancel it appends has committed:
 * its `cancel` stops there, before it has cancelled a single child, and rejects with
 * `CancellerDiedError`. What the cancel left to do, only the workers can now do.
 */
export function dyingCanceller(world: World): Client {
  const dying = overlay(world, {
    events: overlay(world.events, {
      create: async (runId, request, params) => {
        const result = await world.events.create(runId, request, params);
        if (request.eventType === 'run_cancelled') throw new CancellerDiedError(String(runId));
        return result;
      },
    }),
  });
  return createClient({ world: dying });
}
