import { EventNotFoundError, InvalidInputError, type Page } from '@cairn/core/world';
import { expect } from 'vitest';
import { type ConformanceOptions, expectError, runCreated, section, startedRun, stepCreated } from './helpers.js';

const huge = 3e9;

/**
 * A cursor no page handed out may be refused (InvalidInputError) or read as past the end
 * (an empty last page); it must never fail as a storage error or start over from the
 * first page.
 */
async function expectNothingOrRefused<Item>(what: string, read: () => Promise<Page<Item>>): Promise<void> {
  let page: Page<Item>;
  try {
    page = await read();
  } catch (error) {
    if (InvalidInputError.is(error)) return;
    const described = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    expect.fail(`${what}: expected InvalidInputError or an empty page, got ${described}`);
  }
  expect(page, what).toEqual({ data: [], cursor: null });
}

/** Numbers past what storage holds are caught as input, never reach it. */
export function describeBounds(options: ConformanceOptions): void {
  section(options, 'bad-input', 'out-of-range numbers and cursors', (test) => {
    test('a seq or stream index past 2^31 - 1 is InvalidInputError naming it', async ({ world }) => {
      const { runId } = await startedRun(world);
      const list = await expectError(world.events.list(runId, { afterSeq: huge }), InvalidInputError);
      expect(list.field).toBe('options.afterSeq');
      const watch = await expectError(world.events.watch(runId, huge), InvalidInputError);
      expect(watch.field).toBe('afterSeq');
      for (const fromIndex of [huge, -huge]) {
        const read = await expectError(async () => {
          for await (const _ of world.streams.read(runId, 'out', { fromIndex })) break;
        }, InvalidInputError);
        expect(read.field).toBe('options.fromIndex');
      }
      // The largest allowed seq is fine: nothing comes after it.
      expect(await world.events.list(runId, { afterSeq: 2 ** 31 - 1 })).toEqual({ data: [], hasMore: false });
    });

    test('an event id past any seq is EventNotFoundError', async ({ world }) => {
      const { runId } = await startedRun(world);
      for (const eventId of ['evt_999999999999', 'evt_2147483648', 'evt_99999999999999999999']) {
        const error = await expectError(world.events.get(runId, eventId), EventNotFoundError);
        expect(error.message).toContain(eventId);
      }
    });

    test('cursors past the end are refused or give an empty last page, never the first page', async ({ world }) => {
      const { runId } = await startedRun(world, stepCreated('s1'), stepCreated('s2'));
      await world.events.create(null, runCreated());
      for (const cursor of ['3000000000', '999999999999999', '99999999999999999999999']) {
        await expectNothingOrRefused(`runs.list cursor ${cursor}`, () => world.runs.list({ cursor }));
        await expectNothingOrRefused(`steps.list cursor ${cursor}`, () => world.steps.list(runId, { cursor }));
        await expectNothingOrRefused(`hooks.list cursor ${cursor}`, () => world.hooks.list(runId, { cursor }));
        await expectNothingOrRefused(`waits.list cursor ${cursor}`, () => world.waits.list(runId, { cursor }));
      }
    });
  });
}
