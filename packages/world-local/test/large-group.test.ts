import { describe, expect, it } from 'vitest';
import { createLocalWorld } from '../src/index.js';
import { temporaryDirectory, within } from './helpers.js';

describe('world-local with very large concurrent writes', () => {
  it('commits 36 concurrent 15 MiB sends (over 512 MiB in one turn), checkpoints them, and reopens', async () => {
    const directory = await temporaryDirectory();
    const world = createLocalWorld({ dir: directory });
    const count = 36;
    const body = 'x'.repeat(15 * 1024 * 1024);
    const sent = await within(
      Promise.all(Array.from({ length: count }, (_, index) => world.queue.send('large', { index, body }))),
      120_000,
      'the concurrent large sends',
    );
    expect(sent).toHaveLength(count);
    // Still accepting writes: the World did not stop.
    expect((await world.queue.send('small', 'after')).deduplicated).toBe(false);
    await world.close();

    const reopened = createLocalWorld({ dir: directory });
    const seen = new Set<number>();
    await within(
      new Promise<void>((resolve) => {
        reopened.queue.consume(
          'large',
          async (message) => {
            const { index, body: text } = message.payload as { index: number; body: string };
            if (text.length === body.length) seen.add(index);
            if (seen.size === count) resolve();
          },
          { concurrency: 8 },
        );
      }),
      120_000,
      'every large message after reopening',
    );
    await reopened.close();
  }, 300_000);
});
