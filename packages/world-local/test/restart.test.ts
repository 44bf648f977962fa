import type { QueueMessage } from '@cairn/core/world';
import { describe, expect, it } from 'vitest';
import { createLocalWorld } from '../src/index.js';
import { temporaryDirectory, within } from './helpers.js';

describe('world-local restarts', () => {
  it('keeps queued, delayed and failed-and-retrying messages across a restart', async () => {
    const directory = await temporaryDirectory();
    const first = createLocalWorld({ dir: directory });
    const sentAt = Date.now();
    const immediate = await first.queue.send('work', { kind: 'immediate' });
    const delayed = await first.queue.send('work', { kind: 'delayed' }, { delayMs: 400 });
    const failing = await first.queue.send('flaky', { kind: 'flaky' });
    // One failed delivery before the restart: its attempt count must survive.
    await within(
      new Promise<void>((resolve) => {
        const consumer = first.queue.consume(
          'flaky',
          async () => {
            resolve();
            void consumer.stop();
            throw new Error('fails once');
          },
          { retryBackoff: { initialMs: 10 } },
        );
      }),
      5000,
      'the failing delivery',
    );
    await first.close();

    const second = createLocalWorld({ dir: directory });
    const received = new Map<string, { message: QueueMessage; at: number }>();
    const all = new Promise<void>((resolve) => {
      const record = async (message: QueueMessage) => {
        received.set(message.messageId, { message, at: Date.now() });
        if (received.size === 3) resolve();
      };
      second.queue.consume('work', record, { concurrency: 2 });
      second.queue.consume('flaky', record);
    });
    await within(all, 5000, 'all three messages after the restart');
    expect(received.get(immediate.messageId)?.message.payload).toEqual({ kind: 'immediate' });
    const late = received.get(delayed.messageId)!;
    expect(late.at - sentAt).toBeGreaterThanOrEqual(400);
    expect(late.message.deliverAt).toBe(late.message.enqueuedAt + 400);
    expect(received.get(failing.messageId)?.message.attempt).toBe(2);
    await second.close();

    // Acknowledged before the last close, so nothing is delivered a third time.
    const third = createLocalWorld({ dir: directory });
    const seen: unknown[] = [];
    const marker = await third.queue.send('work', { kind: 'marker' });
    await within(
      new Promise<void>((resolve) =>
        third.queue.consume('work', async (message) => {
          seen.push(message.payload);
          if (message.messageId === marker.messageId) resolve();
        }),
      ),
      5000,
      'the marker',
    );
    // The marker was sent after the others; FIFO means anything redelivered would come first.
    expect(seen).toEqual([{ kind: 'marker' }]);
    await third.close();
  });

  it('keeps the streams the append ending a run closed, across a restart', async () => {
    const directory = await temporaryDirectory();
    const first = createLocalWorld({ dir: directory });
    const [created] = await first.events.createBatch(null, [
      { eventType: 'run_created', eventData: { workflowName: 'restart.streams', input: [] } },
      { eventType: 'run_started', eventData: {} },
    ]);
    const runId = created!.run!.runId;
    await first.streams.write(runId, 'left-open', 'one');
    await first.events.create(runId, { eventType: 'run_completed', eventData: { output: 1 } });
    await first.close();

    const second = createLocalWorld({ dir: directory });
    const streams = await second.streams.list(runId);
    expect(streams.map((stream) => [stream.name, stream.closed, stream.chunkCount])).toEqual([['left-open', true, 1]]);
    const chunks: unknown[] = [];
    await within(
      (async () => {
        for await (const chunk of second.streams.read(runId, 'left-open')) chunks.push(chunk.data);
      })(),
      5000,
      'a read of the closed stream to end',
    );
    expect(chunks).toEqual(['one']);
    await second.close();
  });
});
