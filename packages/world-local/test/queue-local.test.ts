import { join } from 'node:path';
import type { QueueMessage } from '@cairn/core/world';
import { describe, expect, it } from 'vitest';
import { createLocalWorld } from '../src/index.js';
import { runUntilThenKill, temporaryDirectory, within } from './helpers.js';

const fixture = join(import.meta.dirname, 'fixtures/deliver-and-hang.mjs');

/** Runs the fixture until it reports a delivery, then SIGKILLs it. */
async function deliverAndCrash(directory: string, topic: string): Promise<{ messageId: string; attempt: number }> {
  const [messageId, attempt] = await runUntilThenKill(
    fixture,
    [directory, topic],
    /DELIVERED \S+ \d+\n/,
    'the child to take a delivery',
  );
  return { messageId: messageId!, attempt: Number(attempt) };
}

describe('world-local queue', () => {
  it('a delivery cut short by a crash comes back with the next attempt number', async () => {
    const directory = await temporaryDirectory();
    const topic = 'crash-redelivery';
    const world = createLocalWorld({ dir: directory });
    const { messageId } = await world.queue.send(topic, { job: 1 });
    await world.close();

    const first = await deliverAndCrash(directory, topic);
    expect(first).toEqual({ messageId, attempt: 1 });
    const second = await deliverAndCrash(directory, topic);
    expect(second).toEqual({ messageId, attempt: 2 });

    const reopened = createLocalWorld({ dir: directory });
    const delivered = await within(
      new Promise<QueueMessage>((resolve) => reopened.queue.consume(topic, async (message) => resolve(message))),
      5000,
      'the third delivery',
    );
    expect(delivered).toMatchObject({ messageId, attempt: 3 });
    await reopened.close();
  }, 30_000);

  it('a long backlog in one group does not make dispatch quadratic', async () => {
    const directory = await temporaryDirectory();
    const world = createLocalWorld({ dir: directory });
    const topic = 'backlog';
    const count = 30_000;
    await Promise.all(Array.from({ length: count }, (_, index) => world.queue.send(topic, index, { groupKey: 'one' })));
    // Delivery is sequential within the group; the first one is what the backlog delayed.
    const started = Date.now();
    const first = await within(
      // Two slots: the one left free after the first delivery makes dispatch park the rest of the group.
      new Promise<number>((resolve) =>
        world.queue.consume(topic, async (message) => resolve(message.payload as number), { concurrency: 2 }),
      ),
      20_000,
      'the first delivery of the backlog',
    );
    const elapsed = Date.now() - started;
    expect(first).toBe(0);
    // Parking 30k messages behind their group is linear work: well under a second. The
    // quadratic version took tens of seconds with the event loop blocked.
    expect(elapsed).toBeLessThan(2000);
    await world.close();
  }, 60_000);
});
