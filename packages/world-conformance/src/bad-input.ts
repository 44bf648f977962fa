import { InvalidInputError, limits, type World } from '@cairn/core/world';
import { expect } from 'vitest';
import {
  type ConformanceOptions,
  expectError,
  readAllRuns,
  runCreated,
  runStarted,
  section,
  snapshotRun,
  startedRun,
  stepCreated,
} from './helpers.js';

type Call = (world: World, runId: string) => Promise<unknown>;

// The World's methods typed loosely, so tests can hand them what a careless caller would.
const create = (world: World, runId: string | null, request: unknown, params?: unknown) =>
  world.events.create(runId, request as never, params as never);
const batch = (world: World, runId: string | null, requests: unknown, params?: unknown) =>
  world.events.createBatch(runId, requests as never, params as never);

/** [what, call, the field the error must name] */
const appendCases: [string, Call, string | RegExp][] = [
  [
    'an unknown event type',
    (world, runId) => create(world, runId, { eventType: 'step_exploded', correlationId: 's1' }),
    'request.eventType',
  ],
  ['a missing event type', (world, runId) => create(world, runId, { correlationId: 's1' }), 'request.eventType'],
  [
    'step_created without a correlation id',
    (world, runId) => create(world, runId, { eventType: 'step_created', eventData: { stepName: 'x' } }),
    'request.correlationId',
  ],
  [
    'a correlation id on a run-level event',
    (world, runId) => create(world, runId, { eventType: 'run_completed', correlationId: 'c', eventData: {} }),
    'request.correlationId',
  ],
  [
    'step_created with a numeric stepName',
    (world, runId) =>
      create(world, runId, { eventType: 'step_created', correlationId: 's1', eventData: { stepName: 42 } }),
    'request.eventData.stepName',
  ],
  [
    'wait_created with a string resumeAt',
    (world, runId) =>
      create(world, runId, { eventType: 'wait_created', correlationId: 'w1', eventData: { resumeAt: 'tomorrow' } }),
    'request.eventData.resumeAt',
  ],
  [
    'wait_created with a fractional resumeAt',
    (world, runId) =>
      create(world, runId, { eventType: 'wait_created', correlationId: 'w1', eventData: { resumeAt: 1.5 } }),
    'request.eventData.resumeAt',
  ],
  [
    'a 257-character hook token',
    (world, runId) =>
      create(world, runId, { eventType: 'hook_created', correlationId: 'h1', eventData: { token: 't'.repeat(257) } }),
    'request.eventData.token',
  ],
  [
    'a hook token with a space',
    (world, runId) =>
      create(world, runId, { eventType: 'hook_created', correlationId: 'h1', eventData: { token: 'a b' } }),
    'request.eventData.token',
  ],
  [
    'an unknown field in eventData',
    (world, runId) =>
      create(world, runId, { eventType: 'step_created', correlationId: 's1', eventData: { stepName: 'x', inptu: 1 } }),
    'request.eventData.inptu',
  ],
  [
    'an unknown top-level field',
    (world, runId) => create(world, runId, { ...stepCreated('s1'), priority: 'high' }),
    'request.priority',
  ],
  [
    'a step input that is not JSON',
    (world, runId) =>
      create(world, runId, { eventType: 'step_created', correlationId: 's1', eventData: { stepName: 'x', input: 1n } }),
    /^request\.eventData\.input/,
  ],
  [
    'run_failed without an error',
    (world, runId) => create(world, runId, { eventType: 'run_failed', eventData: {} }),
    'request.eventData.error',
  ],
  ['a null run id on a non-creating event', (world) => create(world, null, stepCreated('s1')), 'runId'],
  ['a run id with a space', (world) => create(world, 'run with space', stepCreated('s1')), 'runId'],
  ['a 257-character run id', (world) => create(world, 'r'.repeat(257), runCreated()), 'runId'],
  [
    'asOfTimestamp NaN',
    (world, runId) => create(world, runId, stepCreated('s1'), { asOfTimestamp: Number.NaN }),
    'params.asOfTimestamp',
  ],
  [
    'asOfTimestamp Infinity',
    (world, runId) => create(world, runId, stepCreated('s1'), { asOfTimestamp: Number.POSITIVE_INFINITY }),
    'params.asOfTimestamp',
  ],
  [
    'an empty lastKnownEventId',
    (world, runId) => create(world, runId, stepCreated('s1'), { lastKnownEventId: '' }),
    'params.lastKnownEventId',
  ],
  [
    'a fractional createdAt',
    (world, runId) => create(world, runId, stepCreated('s1'), { createdAt: 1.5 }),
    'params.createdAt',
  ],
  ['an unknown param', (world, runId) => create(world, runId, stepCreated('s1'), { fence: 'x' }), 'params.fence'],
  [
    'run_created not first in a batch',
    (world, runId) => batch(world, runId, [stepCreated('s1'), runCreated()]),
    /^requests(\[1\]|\.1)\.eventType$/,
  ],
  [
    'a bad request deep in a batch',
    (world, runId) => batch(world, runId, [stepCreated('s1'), stepCreated('s2'), { eventType: 'nope' }]),
    /^requests(\[2\]|\.2)\.eventType$/,
  ],
  ['an empty batch', (world, runId) => batch(world, runId, []), 'requests'],
  [
    'a batch over 1000 events',
    (world, runId) =>
      batch(
        world,
        runId,
        Array.from({ length: 1001 }, (_, index) => stepCreated(`s${index}`)),
      ),
    'requests',
  ],
];

/** Input that breaks the schemas: InvalidInputError naming the field, and nothing written. */
export function describeBadInput(options: ConformanceOptions): void {
  section(options, 'bad-input', 'bad input', (test) => {
    test('bad appends are InvalidInputError naming the field, and write nothing', async ({ world }) => {
      const { runId } = await startedRun(world, stepCreated('existing'));
      const before = await snapshotRun(world, runId);
      const runsBefore = await readAllRuns(world);
      for (const [what, call, field] of appendCases) {
        const error = await expectError(call(world, runId), InvalidInputError);
        if (typeof field === 'string') expect(error.field, what).toBe(field);
        else expect(error.field, what).toMatch(field);
        expect(error.message, `the message of ${what} names the field`).toContain(error.field);
      }
      expect(await snapshotRun(world, runId)).toEqual(before);
      expect(await readAllRuns(world)).toEqual(runsBefore);
    });

    test('run_created without a workflowName creates no run', async ({ world }) => {
      const error = await expectError(
        create(world, null, { eventType: 'run_created', eventData: {} }),
        InvalidInputError,
      );
      expect(error.field).toBe('request.eventData.workflowName');
      const chosen = await expectError(
        batch(world, 'chosen-id', [{ eventType: 'run_created', eventData: { workflowName: '' } }, runStarted]),
        InvalidInputError,
      );
      expect(chosen.field).toMatch(/^requests(\[0\]|\.0)\.eventData\.workflowName$/);
      expect(await readAllRuns(world)).toEqual([]);
    });

    test('limits are inclusive: a 256-character hook token and run id are accepted', async ({ world }) => {
      const runId = 'r'.repeat(256);
      await world.events.createBatch(runId, [runCreated(), runStarted]);
      const token = 't'.repeat(256);
      const { hook } = await world.events.create(runId, {
        eventType: 'hook_created',
        correlationId: 'h1',
        eventData: { token },
      });
      expect(hook?.token).toBe(token);
    });

    test('bad reads are InvalidInputError naming the argument', async ({ world }) => {
      const { runId } = await startedRun(world);
      const loose = world as unknown as Record<string, Record<string, (...args: unknown[]) => Promise<unknown>>>;
      const reads: [string, () => Promise<unknown>, string][] = [
        ['runs.get("")', () => world.runs.get(''), 'runId'],
        ['events.list(42)', () => loose.events!.list!(42), 'runId'],
        ['events.get(runId, "")', () => world.events.get(runId, ''), 'eventId'],
        ['steps.get(runId, "a b")', () => world.steps.get(runId, 'a b'), 'stepId'],
        ['hooks.getByToken("")', () => world.hooks.getByToken(''), 'token'],
        ['events.watch(runId, -1)', () => world.events.watch(runId, -1), 'afterSeq'],
        [
          'events.watch(runId, 0, undefined, { untilEnded: "yes" })',
          () => loose.events!.watch!(runId, 0, undefined, { untilEnded: 'yes' }),
          'options.untilEnded',
        ],
        ['runs.list({ status: "done" })', () => loose.runs!.list!({ status: 'done' }), 'options.status'],
        ['events.list(runId, { extra })', () => loose.events!.list!(runId, { extra: 1 }), 'options.extra'],
      ];
      for (const [what, read, field] of reads) {
        const error = await expectError(read(), InvalidInputError);
        expect(error.field, what).toBe(field);
      }
    });

    test('bad stream arguments are InvalidInputError and write nothing', async ({ world }) => {
      const { runId } = await startedRun(world);
      const write = world.streams.write as (...args: unknown[]) => Promise<unknown>;
      for (const [args, field] of [
        [[runId, 'out', 42], 'chunk'],
        [[runId, 'out', { text: 'x' }], 'chunk'],
        [[runId, '', 'x'], 'name'],
        [[runId, 'bell\u0007', 'x'], 'name'],
        [['bad run', 'out', 'x'], 'runId'],
      ] as [unknown[], string][]) {
        const error = await expectError(write(...args), InvalidInputError);
        expect(error.field).toBe(field);
      }
      const iterate = async (options: unknown) => {
        for await (const _ of world.streams.read(runId, 'out', options as never)) break;
      };
      expect((await expectError(iterate({ fromIndex: 1.5 }), InvalidInputError)).field).toBe('options.fromIndex');
      expect(await world.streams.list(runId)).toEqual([]);
    });

    test('a payload nested deeper than limits.maxPayloadDepth is InvalidInputError; one at the limit is kept', async ({
      world,
    }) => {
      const nested = (depth: number): unknown => {
        let value: unknown = 'bottom';
        for (let level = 0; level < depth; level++) value = level % 2 === 0 ? [value] : { inner: value };
        return value;
      };
      const { runId } = await startedRun(world);
      const before = await snapshotRun(world, runId);
      // Thousands deep: a validator that recursed would run out of stack here.
      const tooDeep = nested(20_000);
      const append = await expectError(
        world.events.create(runId, stepCreated('deep', 'deep', tooDeep)),
        InvalidInputError,
      );
      expect(append.field).toBe('request.eventData.input');
      expect(append.reason).toContain(String(limits.maxPayloadDepth));
      const justOver = await expectError(
        world.events.create(runId, stepCreated('deep', 'deep', nested(limits.maxPayloadDepth + 1))),
        InvalidInputError,
      );
      expect(justOver.field).toBe('request.eventData.input');
      expect((await expectError(world.queue.send('conformance.deep', tooDeep as never), InvalidInputError)).field).toBe(
        'payload',
      );
      expect(await snapshotRun(world, runId)).toEqual(before);

      const atLimit = nested(limits.maxPayloadDepth);
      const { step } = await world.events.create(runId, stepCreated('deep', 'deep', atLimit));
      expect(step?.input).toEqual(atLimit);
      expect((await world.steps.get(runId, 'deep')).input).toEqual(atLimit);
    });

    test('payloads over capabilities.maxPayloadBytes are InvalidInputError', async ({ world, skipBecause }) => {
      const limit = world.capabilities.maxPayloadBytes;
      if (limit > 64 * 1024 * 1024) skipBecause(`maxPayloadBytes is ${limit}; too large to build a payload over it`);
      const { runId } = await startedRun(world);
      const before = await snapshotRun(world, runId);
      const huge = 'x'.repeat(limit + 1);
      await expectError(world.events.create(runId, stepCreated('big', 'big', huge)), InvalidInputError);
      await expectError(world.queue.send('conformance.big', huge), InvalidInputError);
      expect(await snapshotRun(world, runId)).toEqual(before);
      const chunkLimit = world.capabilities.streams.maxChunkBytes;
      if (chunkLimit <= 64 * 1024 * 1024) {
        await expectError(world.streams.write(runId, 'big', 'y'.repeat(chunkLimit + 1)), InvalidInputError);
        await expectError(world.streams.write(runId, 'big', new Uint8Array(chunkLimit + 1)), InvalidInputError);
        expect(await world.streams.list(runId)).toEqual([]);
      }
    }, 30_000);
  });
}
