import {
  type CreateEventRequest,
  InvalidInputError,
  type Page,
  type PageOptions,
  type Run,
  type World,
} from '@cairn/core/world';
import { expect } from 'vitest';
import {
  type ConformanceOptions,
  expectError,
  hookCreated,
  runCreated,
  runStarted,
  section,
  startedRun,
  stepCreated,
  waitCreated,
} from './helpers.js';

const logLength = 1101;

/** A run whose log is `logLength` events long, built in two maximal batches. */
async function longRun(world: World): Promise<string> {
  const first = await world.events.createBatch(null, [
    runCreated('long'),
    runStarted,
    ...Array.from({ length: 998 }, (_, index) => stepCreated(`s${index}`)),
  ]);
  const runId = first[0]!.event.runId;
  await world.events.createBatch(
    runId,
    Array.from({ length: logLength - 1000 }, (_, index) => stepCreated(`s${998 + index}`)),
  );
  return runId;
}

/** Follows cursors to the end; checks each page respects the limit. */
async function pageAll<Item>(
  list: (options: PageOptions) => Promise<Page<Item>>,
  limit: number,
): Promise<{ items: Item[]; pages: number }> {
  const items: Item[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await list({ limit, ...(cursor === undefined ? {} : { cursor }) });
    pages += 1;
    expect(page.data.length).toBeLessThanOrEqual(limit);
    items.push(...page.data);
    cursor = page.cursor ?? undefined;
    if (pages > 10_000) throw new Error('cursor never reached null');
  } while (cursor !== undefined);
  return { items, pages };
}

/** Paging of the log and of every view: each item exactly once, in order. */
export function describePagination(options: ConformanceOptions): void {
  section(options, 'pagination', 'pagination', (test) => {
    test(`events.list pages a ${logLength}-event log at limits 7, 100 and 1000 without gaps or duplicates`, async ({
      world,
    }) => {
      const runId = await longRun(world);
      for (const limit of [7, 100, 1000]) {
        const seqs: number[] = [];
        for (;;) {
          const page = await world.events.list(runId, { afterSeq: seqs.at(-1) ?? 0, limit });
          // Each page continues exactly where the last one stopped, within the limit.
          expect(page.data.length).toBeGreaterThan(0);
          expect(page.data.length).toBeLessThanOrEqual(limit);
          expect(page.data.map((event) => event.seq)).toEqual(
            Array.from({ length: page.data.length }, (_, index) => seqs.length + index + 1),
          );
          seqs.push(...page.data.map((event) => event.seq));
          expect(page.hasMore).toBe(seqs.length < logLength);
          if (!page.hasMore) break;
        }
        expect(seqs).toHaveLength(logLength);
      }
      // The default page size is 100: never more, and the log goes on past it.
      const defaults = await world.events.list(runId);
      expect(defaults.data.length).toBeGreaterThan(0);
      expect(defaults.data.length).toBeLessThanOrEqual(100);
      expect(defaults.data[0]!.seq).toBe(1);
      expect(defaults.hasMore).toBe(true);
      const end = await world.events.list(runId, { afterSeq: logLength });
      expect(end).toEqual({ data: [], hasMore: false });
      const middle = await world.events.list(runId, { afterSeq: 500, limit: 3 });
      expect(middle.data.map((event) => event.seq)).toEqual([501, 502, 503].slice(0, middle.data.length));
      expect(middle.data.length).toBeGreaterThan(0);
    }, 30_000);

    test('runs.list pages newest first, with status and workflowName filters', async ({ world }) => {
      const created: Run[] = [];
      for (let index = 0; index < 25; index += 1) {
        const requests: CreateEventRequest[] = [runCreated(index % 2 === 0 ? 'even' : 'odd')];
        if (index % 3 !== 0) requests.push(runStarted);
        if (index % 5 === 0) requests.push({ eventType: 'run_completed', eventData: {} });
        const results = await world.events.createBatch(null, requests);
        created.push(results.at(-1)!.run);
      }
      const newestFirst = [...created].reverse();
      const idsOf = (runs: Run[]) => runs.map((run) => run.runId);
      const cases: { filter: { status?: Run['status']; workflowName?: string }; expected: Run[] }[] = [
        { filter: {}, expected: newestFirst },
        { filter: { status: 'running' }, expected: newestFirst.filter((run) => run.status === 'running') },
        { filter: { status: 'pending' }, expected: newestFirst.filter((run) => run.status === 'pending') },
        { filter: { workflowName: 'odd' }, expected: newestFirst.filter((run) => run.workflowName === 'odd') },
        {
          filter: { workflowName: 'even', status: 'completed' },
          expected: newestFirst.filter((run) => run.workflowName === 'even' && run.status === 'completed'),
        },
        { filter: { workflowName: 'nobody' }, expected: [] },
      ];
      for (const { filter, expected } of cases) {
        const { items } = await pageAll((page) => world.runs.list({ ...filter, ...page }), 4);
        expect(idsOf(items), `runs.list(${JSON.stringify(filter)})`).toEqual(idsOf(expected));
        for (const run of items) expect(run).toEqual(await world.runs.get(run.runId));
      }
      // Sanity: the filters above were not all trivially empty or full.
      expect(cases[1]!.expected.length).toBeGreaterThan(4);
      expect(cases[1]!.expected.length).toBeLessThan(25);
      const whole = await world.runs.list();
      expect(idsOf(whole.data)).toEqual(idsOf(newestFirst));
      expect(whole.cursor).toBeNull();
    });

    test('runs.list cursors stay valid when runs are created between pages', async ({ world }) => {
      const ids: string[] = [];
      for (let index = 0; index < 6; index += 1) ids.push((await world.events.create(null, runCreated())).event.runId);
      let inserted: string | undefined;
      const { items } = await pageAll(async (page) => {
        const result = await world.runs.list(page);
        // A run created after the first page must not shift the pages still to come.
        inserted ??= (await world.events.create(null, runCreated())).event.runId;
        return result;
      }, 3);
      const seen = items.map((run) => run.runId);
      expect(new Set(seen).size, 'no run is listed twice').toBe(seen.length);
      expect(seen.filter((runId) => runId !== inserted)).toEqual([...ids].reverse());
    });

    test('steps, hooks and waits list in creation order across pages', async ({ world }) => {
      const count = 23;
      const ids = Array.from({ length: count }, (_, index) => `e${String(index).padStart(2, '0')}`);
      // Interleaved and not in id order, so creation order is what the check sees.
      const shuffled = ids.map((_, index) => ids[(index * 7) % count]!);
      const { runId } = await startedRun(
        world,
        ...shuffled.flatMap((id) => [stepCreated(id), hookCreated(id, `tok-${id}`), waitCreated(id)]),
      );
      for (const limit of [4, 100]) {
        const steps = await pageAll((page) => world.steps.list(runId, page), limit);
        expect(steps.items.map((step) => step.stepId)).toEqual(shuffled);
        const hooks = await pageAll((page) => world.hooks.list(runId, page), limit);
        expect(hooks.items.map((hook) => hook.hookId)).toEqual(shuffled);
        const waits = await pageAll((page) => world.waits.list(runId, page), limit);
        expect(waits.items.map((wait) => wait.waitId)).toEqual(shuffled);
        if (limit >= count) expect(steps.pages).toBe(1);
      }
      const other = await startedRun(world);
      expect(await world.steps.list(other.runId)).toEqual({ data: [], cursor: null });
    });

    test('a bad limit, afterSeq or cursor is InvalidInputError naming it', async ({ world }) => {
      const { runId } = await startedRun(world, stepCreated('s1'));
      const lists: [string, (options: Record<string, unknown>) => Promise<unknown>][] = [
        ['events.list', (options) => world.events.list(runId, options)],
        ['runs.list', (options) => world.runs.list(options)],
        ['steps.list', (options) => world.steps.list(runId, options)],
        ['hooks.list', (options) => world.hooks.list(runId, options)],
        ['waits.list', (options) => world.waits.list(runId, options)],
      ];
      for (const [name, list] of lists) {
        for (const limit of [0, -1, 1001, 1.5, Number.NaN, '10']) {
          const error = await expectError(list({ limit }), InvalidInputError);
          expect(error.field, `${name}({ limit: ${String(limit)} })`).toBe('options.limit');
        }
      }
      for (const afterSeq of [-1, 1.5, '0']) {
        const error = await expectError(world.events.list(runId, { afterSeq } as never), InvalidInputError);
        expect(error.field).toBe('options.afterSeq');
      }
      for (const [, list] of lists.slice(1)) {
        const error = await expectError(list({ cursor: '%%not a cursor%%' }), InvalidInputError);
        expect(error.field).toBe('options.cursor');
      }
    });
  });
}
