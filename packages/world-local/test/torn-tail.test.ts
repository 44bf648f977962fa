import { appendFile, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WorldCorruptedError } from '@cairn/core/world';
import { describe, expect, it } from 'vitest';
import { createLocalWorld } from '../src/index.js';
import { temporaryDirectory } from './helpers.js';

const journalPath = (directory: string) => join(directory, 'journal-0.cairn');

/** Writes a run with `steps` step_created events, one append each, and closes the World. */
async function seed(directory: string, steps: number): Promise<string> {
  const world = createLocalWorld({ dir: directory });
  const { run } = await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'seed' } });
  for (let index = 0; index < steps; index++) {
    await world.events.create(run.runId, {
      eventType: 'step_created',
      correlationId: `step-${index}`,
      eventData: { stepName: 'work', input: { index, text: 'x'.repeat(200) } },
    });
  }
  await world.close();
  return run.runId;
}

async function eventCount(directory: string, runId: string): Promise<number> {
  const world = createLocalWorld({ dir: directory });
  try {
    const page = await world.events.list(runId, { limit: 1000 });
    expect(page.data.map((event) => event.seq)).toEqual(page.data.map((_, index) => index + 1));
    return page.data.length;
  } finally {
    await world.close();
  }
}

describe('world-local torn tails', () => {
  it('cuts off a group whose write was cut short, keeping every earlier event', async () => {
    const directory = await temporaryDirectory();
    const runId = await seed(directory, 5);
    const { size } = await stat(journalPath(directory));
    // Drop the last 50 bytes: the last group (step-4) is now incomplete.
    await truncate(journalPath(directory), size - 50);
    expect(await eventCount(directory, runId)).toBe(5);
    // The torn bytes were removed from the file, so new appends follow valid data.
    expect((await stat(journalPath(directory))).size).toBeLessThan(size - 50);
    const world = createLocalWorld({ dir: directory });
    const result = await world.events.create(runId, {
      eventType: 'step_created',
      correlationId: 'after-repair',
      eventData: { stepName: 'work' },
    });
    expect(result.event.seq).toBe(6);
    await world.close();
    expect(await eventCount(directory, runId)).toBe(6);
  });

  it('ignores a zero-filled tail left by a file extended but never written', async () => {
    const directory = await temporaryDirectory();
    const runId = await seed(directory, 3);
    await appendFile(journalPath(directory), Buffer.alloc(4096));
    expect(await eventCount(directory, runId)).toBe(4);
  });

  it('ignores a last group whose checksum does not match', async () => {
    const directory = await temporaryDirectory();
    const runId = await seed(directory, 3);
    const bytes = await readFile(journalPath(directory));
    bytes[bytes.length - 5] = bytes[bytes.length - 5]! ^ 0xff;
    await writeFile(journalPath(directory), bytes);
    expect(await eventCount(directory, runId)).toBe(3);
  });

  it('refuses to open when damage is followed by valid groups, instead of dropping committed data', async () => {
    const directory = await temporaryDirectory();
    await seed(directory, 4);
    const bytes = await readFile(journalPath(directory));
    // Flip a byte inside the first group's payload: later groups are intact.
    bytes[40] = bytes[40]! ^ 0xff;
    await writeFile(journalPath(directory), bytes);
    const world = createLocalWorld({ dir: directory });
    const error = await world.open().catch((caught: unknown) => caught);
    expect(WorldCorruptedError.is(error)).toBe(true);
    expect((error as Error).message).toContain('journal-0.cairn');
    // Nothing was rewritten: the damaged file is left for an operator to inspect.
    expect(await readFile(journalPath(directory))).toEqual(bytes);
  });
});
