import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { QueueMessage } from '@cairn/core/world';
import { describe, expect, it } from 'vitest';
import { createLocalWorld } from '../src/index.js';
import { temporaryDirectory, within } from './helpers.js';

const fixture = join(import.meta.dirname, 'fixtures/deliver-and-hang.mjs');

/** Runs the fixture until it reports a delivery, then SIGKILLs it. */
async function deliverAndCrash(directory: string, topic: string): Promise<{ messageId: string; attempt: number }> {
  const child = spawn(process.execPath, [fixture, directory, topic], { stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  let errors = '';
  child.stderr.on('data', (text: Buffer) => {
    errors += text.toString();
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const line = await within(
      new Promise<string>((resolve, reject) => {
        child.stdout.on('data', (text: Buffer) => {
          output += text.toString();
          const match = /DELIVERED \S+ \d+\n/.exec(output);
          if (match) resolve(match[0]);
        });
        child.once('exit', (code) => reject(new Error(`the child exited (${code}) before a delivery: ${errors}`)));
      }),
      10_000,
      'the child to take a delivery',
    );
    const [, messageId, attempt] = line.trim().split(' ');
    return { messageId: messageId!, attempt: Number(attempt) };
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
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
    const count = 40_000;
    await Promise.all(Array.from({ length: count }, (_, index) => world.queue.send(topic, index, { groupKey: 'one' })));
    // Delivery is sequential within the group; the first one is what the backlog delayed.
    const started = Date.now();
    const first = await within(
      new Promise<number>((resolve) =>
        world.queue.consume(topic, async (message) => resolve(message.payload as number)),
      ),
      20_000,
      'the first delivery of the backlog',
    );
    const elapsed = Date.now() - started;
    expect(first).toBe(0);
    // Parking 40k messages behind their group is linear work: well under a second. The
    // quadratic version took tens of seconds with the event loop blocked.
    expect(elapsed).toBeLessThan(2000);
    await world.close();
  }, 60_000);
});
