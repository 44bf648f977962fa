import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidInputError, type World } from '@cairn/core/world';
import { createLocalWorld } from '@cairn/world-local';
import type { VirtualClock } from './virtual-clock.js';

/** The World an environment tests against, and what the environment must clean up. */
export interface OpenedWorld {
  world: World;
  /** The environment built it, so `close()` closes it. */
  owned: boolean;
  /** The temporary directory of the default World, removed on `close()`. */
  directory?: string;
}

/**
 * Opens the environment's World on its clock: the default world-local, or what the
 * `world` option's function builds from the clock. A World built beforehand is accepted
 * only with the clock it was built on (`clock`): without it, the World would keep time of
 * its own and time skipping would silently not reach it.
 */
export async function openWorld(
  world: World | ((clock: VirtualClock) => World | Promise<World>) | undefined,
  clock: VirtualClock,
  clockGiven: boolean,
): Promise<OpenedWorld> {
  if (world === undefined) {
    const directory = await mkdtemp(join(tmpdir(), 'cairn-test-'));
    return { world: createLocalWorld({ dir: directory, clock }), owned: true, directory };
  }
  if (typeof world === 'function') return { world: await world(clock), owned: true };
  if (typeof world !== 'object' || world === null) {
    throw new InvalidInputError({
      field: 'world',
      value: world,
      reason: 'must be a World or a function (clock) => World',
    });
  }
  if (!clockGiven) {
    throw new InvalidInputError({
      field: 'world',
      value: world.name,
      reason:
        'was built before the environment, so it cannot be on the environment’s virtual clock: pass a function ' +
        '(clock) => World, or also pass `clock`, the VirtualClock the World was built with',
    });
  }
  return { world, owned: false };
}
