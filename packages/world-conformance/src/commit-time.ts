import { FenceConflictError } from '@cairn/core/world';
import { expect } from 'vitest';
import {
  type ConformanceOptions,
  expectError,
  expectUnchanged,
  readLog,
  type Scope,
  section,
  snapshotRun,
  startedRun,
  stepCreated,
} from './helpers.js';

/** Below this a World leaves no room to stamp ahead of its own clock within a test. */
const minimumWindowMs = 100;

function windowOf({ world, skipBecause }: Scope): number {
  const window = world.capabilities.maxFutureCreatedAtMs;
  if (window < minimumWindowMs) {
    skipBecause(`capabilities.maxFutureCreatedAtMs is ${window} ms; stamping ahead needs at least ${minimumWindowMs}`);
  }
  return window;
}

/** `CreateEventParams.createdAt`: a proposed commit time, honoured exactly or refused whole. */
export function describeCommitTime(options: ConformanceOptions): void {
  section(options, 'commit-time', 'proposed commit time (params.createdAt)', (test) => {
    test('a stamp ahead of the clock, within the window, is used exactly for every event of the append', async (scope) => {
      const { world } = scope;
      const window = windowOf(scope);
      const { runId, tail } = await startedRun(world);
      const stamp = Date.now() + Math.min(1000, Math.floor(window / 2));
      const results = await world.events.createBatch(runId, [stepCreated('a'), stepCreated('b')], {
        lastKnownEventId: tail,
        createdAt: stamp,
      });
      expect(results.map((result) => result.event.createdAt)).toEqual([stamp, stamp]);
      expect((await world.runs.get(runId)).updatedAt).toBe(stamp);
      expect((await readLog(world, runId)).slice(-2).map((event) => event.createdAt)).toEqual([stamp, stamp]);
      // The World's clock is now behind the log; later events still never go back in time.
      const next = await world.events.create(runId, stepCreated('c'));
      expect(next.event.createdAt).toBeGreaterThanOrEqual(stamp);
    });

    test('a stamp behind the clock or behind the run is refused with FenceConflictError', async (scope) => {
      const { world } = scope;
      const window = windowOf(scope);
      const { runId } = await startedRun(world);
      let before = await snapshotRun(world, runId);
      await expectError(
        world.events.create(runId, stepCreated('past'), { createdAt: Date.now() - 60_000 }),
        FenceConflictError,
      );
      await expectUnchanged(world, runId, before);

      const ahead = Date.now() + Math.min(1000, Math.floor(window / 2));
      await world.events.create(runId, stepCreated('ahead'), { createdAt: ahead });
      before = await snapshotRun(world, runId);
      // Still ahead of the clock, but earlier than the run's last event.
      await expectError(
        world.events.create(runId, stepCreated('behind-run'), { createdAt: ahead - 10 }),
        FenceConflictError,
      );
      await expectUnchanged(world, runId, before);
    });

    test('a stamp beyond capabilities.maxFutureCreatedAtMs is refused with FenceConflictError', async ({ world }) => {
      const { runId } = await startedRun(world);
      const before = await snapshotRun(world, runId);
      const tooFar = Date.now() + world.capabilities.maxFutureCreatedAtMs + 60_000;
      await expectError(world.events.create(runId, stepCreated('far'), { createdAt: tooFar }), FenceConflictError);
      await expectUnchanged(world, runId, before);
    });
  });
}
