import {
  DuplicateDeliveryError,
  FenceConflictError,
  HookTokenConflictError,
  type QueueMessage,
  type World,
  WorldUnavailableError,
} from '@cairn/core/world';
import { expect } from 'vitest';
import {
  type ConformanceOptions,
  deferred,
  expectError,
  hookCreated,
  hookDelivery,
  readLog,
  type Scope,
  section,
  startedRun,
  stepCreated,
  within,
} from './helpers.js';
import { consume } from './queue.js';

async function openPeer(scope: Scope): Promise<World> {
  const peer = await scope.options.openPeer!(scope.world);
  scope.defer(() => peer.close());
  return peer;
}

/** A second handle on one store: refused when the World is single-process, coherent otherwise. */
export function describeSharedStore(options: ConformanceOptions): void {
  const withReason: ConformanceOptions = options.openPeer
    ? options
    : {
        ...options,
        skip: {
          'shared-store': 'no openPeer option was given, so the suite cannot open a second handle on one store',
          ...options.skip,
        },
      };
  section(withReason, 'shared-store', 'a second handle on the same store', (test) => {
    test('a World that is not sharedAcrossProcesses refuses a second handle and keeps working', async (scope) => {
      const { world } = scope;
      if (world.capabilities.sharedAcrossProcesses) scope.skipBecause('capabilities.sharedAcrossProcesses is true');
      // Use the World first, so it certainly holds its store.
      const { runId } = await startedRun(world);
      await expectError(async () => {
        const peer = await openPeer(scope);
        await peer.runs.list();
      }, WorldUnavailableError);
      const appended = await world.events.create(runId, stepCreated('after-peer'));
      expect(appended.event.seq).toBe(3);
      expect(await readLog(world, runId)).toHaveLength(3);
    });

    test('handles on a shared store see one log, one fence and one hook-token index', async (scope) => {
      const { world } = scope;
      if (!world.capabilities.sharedAcrossProcesses) scope.skipBecause('capabilities.sharedAcrossProcesses is false');
      const peer = await openPeer(scope);
      const { runId, tail } = await startedRun(world, hookCreated('h1', 'shared:token'));
      expect(await peer.runs.get(runId)).toEqual(await world.runs.get(runId));

      const handles = [world, peer];
      const outcomes = await Promise.allSettled(
        Array.from({ length: 24 }, (_, writer) =>
          handles[writer % 2]!.events.create(runId, stepCreated(`w${writer}`), { lastKnownEventId: tail }),
        ),
      );
      expect(outcomes.filter((outcome) => outcome.status === 'fulfilled')).toHaveLength(1);
      for (const outcome of outcomes) {
        if (outcome.status === 'rejected') expect(FenceConflictError.is(outcome.reason)).toBe(true);
      }
      const log = await readLog(peer, runId);
      expect(log.map((event) => event.seq)).toEqual([1, 2, 3, 4]);
      expect(await readLog(world, runId)).toEqual(log);

      const other = await startedRun(peer);
      await expectError(peer.events.create(other.runId, hookCreated('h1', 'shared:token')), HookTokenConflictError);

      // A delivery written through one handle is a repeat through the other, even when the
      // other has just written to the run itself (a World caching the run must not miss it).
      if (world.capabilities.uniqueDeliveryIds === true) {
        await peer.events.create(other.runId, hookCreated('h2', 'shared:delivery'));
        await peer.events.create(other.runId, hookDelivery('h2', 'shared-1'));
        await world.events.create(other.runId, hookDelivery('h2', 'shared-2'));
        await expectError(peer.events.create(other.runId, hookDelivery('h2', 'shared-2')), DuplicateDeliveryError);
        await expectError(world.events.create(other.runId, hookDelivery('h2', 'shared-1')), DuplicateDeliveryError);
        expect((await peer.hooks.get(other.runId, 'h2')).receivedCount).toBe(2);
      }
    });

    test('group exclusivity holds across consumers on two handles', async (scope) => {
      const { world } = scope;
      if (!world.capabilities.sharedAcrossProcesses) scope.skipBecause('capabilities.sharedAcrossProcesses is false');
      const peer = await openPeer(scope);
      const topic = 'conformance.shared-groups';
      const inFlight = new Map<string, number>();
      const order = new Map<string, number[]>();
      let maxPerGroup = 0;
      let delivered = 0;
      const all = deferred();
      const handler = async (message: QueueMessage) => {
        const { group, index } = message.payload as { group: string; index: number };
        inFlight.set(group, (inFlight.get(group) ?? 0) + 1);
        maxPerGroup = Math.max(maxPerGroup, inFlight.get(group)!);
        order.set(group, [...(order.get(group) ?? []), index]);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight.set(group, inFlight.get(group)! - 1);
        delivered += 1;
        if (delivered === 18) all.resolve();
      };
      consume(scope, topic, handler, { concurrency: 4 });
      const peerConsumer = peer.queue.consume(topic, handler, { concurrency: 4 });
      scope.defer(() => peerConsumer.stop());
      await Promise.all(
        ['a', 'b', 'c'].map(async (group) => {
          for (let index = 0; index < 6; index += 1)
            await world.queue.send(topic, { group, index }, { groupKey: group });
        }),
      );
      await within(all.promise, 20_000, 'all grouped messages across two handles');
      expect(maxPerGroup).toBe(1);
      for (const group of ['a', 'b', 'c']) expect(order.get(group)).toEqual([0, 1, 2, 3, 4, 5]);
    }, 30_000);
  });
}
