import { InvalidInputError, type World } from '@cairn/core/world';
import { expect } from 'vitest';
import {
  type ConformanceOptions,
  deferred,
  expectError,
  readAllRuns,
  readLog,
  runCreated,
  runStarted,
  section,
  snapshotRun,
  startedRun,
  stepCreated,
  within,
} from './helpers.js';
import { consume } from './queue.js';

type Case = [what: string, call: (world: World, runId: string) => Promise<unknown>, field: string | RegExp];

const nul = 'a\u0000b';
const loneHigh = 'a\uD83D';
const loneLow = '\uDE00b';

/** Names and keys that no World can store exactly: each is refused, naming the field. */
const refusedCases: Case[] = [
  [
    'NUL in a workflowName',
    (world) => world.events.create(null, runCreated(`wf${nul}`)),
    'request.eventData.workflowName',
  ],
  [
    'a lone surrogate in a workflowName',
    (world) => world.events.create(null, runCreated(`wf${loneHigh}`)),
    'request.eventData.workflowName',
  ],
  [
    'NUL in a stepName',
    (world, runId) => world.events.create(runId, stepCreated('s1', `step${nul}`)),
    'request.eventData.stepName',
  ],
  [
    'a lone surrogate in a stepName',
    (world, runId) => world.events.create(runId, stepCreated('s1', `step${loneLow}`)),
    'request.eventData.stepName',
  ],
  [
    'NUL in a correlation id',
    (world, runId) => world.events.create(runId, stepCreated(`s${nul}`)),
    'request.correlationId',
  ],
  [
    'NUL in a hook token',
    (world, runId) =>
      world.events.create(runId, { eventType: 'hook_created', correlationId: 'h1', eventData: { token: `t${nul}` } }),
    'request.eventData.token',
  ],
  [
    'a lone surrogate in a hook token',
    (world, runId) =>
      world.events.create(runId, {
        eventType: 'hook_created',
        correlationId: 'h1',
        eventData: { token: `t${loneHigh}` },
      }),
    'request.eventData.token',
  ],
  [
    'NUL in a runs.list workflowName filter',
    (world) => world.runs.list({ workflowName: `wf${nul}` }),
    'options.workflowName',
  ],
  [
    'a lone surrogate in a runs.list workflowName filter',
    (world) => world.runs.list({ workflowName: `wf${loneHigh}` }),
    'options.workflowName',
  ],
  ['NUL in a run id', (world) => world.runs.get(`run${nul}`), 'runId'],
  ['NUL in a stream name', (world, runId) => world.streams.write(runId, `out${nul}`, 'x'), 'name'],
  ['a lone surrogate in a stream name', (world, runId) => world.streams.write(runId, `out${loneHigh}`, 'x'), 'name'],
  ['a lone surrogate in a text chunk', (world, runId) => world.streams.write(runId, 'out', loneHigh), 'chunk'],
  ['NUL in a topic', (world) => world.queue.send(`topic${nul}`, 1), 'topic'],
  [
    'NUL in an idempotency key',
    (world) => world.queue.send('conformance.text', 1, { idempotencyKey: `k${nul}` }),
    'options.idempotencyKey',
  ],
  [
    'a lone surrogate in a group key',
    (world) => world.queue.send('conformance.text', 1, { groupKey: `g${loneLow}` }),
    'options.groupKey',
  ],
  [
    'a lone surrogate in a queue payload',
    (world) => world.queue.send('conformance.text', { text: loneHigh }),
    'payload',
  ],
  [
    'a lone surrogate deep in a step input',
    (world, runId) => world.events.create(runId, stepCreated('s1', 'work', { nested: [loneLow] })),
    /^request/,
  ],
];

/** Text at the edges: NUL, lone surrogates and non-ASCII in names, keys and payloads. */
export function describeText(options: ConformanceOptions): void {
  section(options, 'bad-input', 'text at the edges', (test) => {
    test('NUL and lone surrogates in names, ids, tokens and keys are InvalidInputError, and write nothing', async ({
      world,
    }) => {
      const { runId } = await startedRun(world);
      const before = await snapshotRun(world, runId);
      const runsBefore = await readAllRuns(world);
      for (const [what, call, field] of refusedCases) {
        const error = await expectError(call(world, runId), InvalidInputError);
        if (typeof field === 'string') expect(error.field, what).toBe(field);
        else expect(error.field, what).toMatch(field);
      }
      expect(await snapshotRun(world, runId)).toEqual(before);
      expect(await readAllRuns(world)).toEqual(runsBefore);
      expect(await world.streams.list(runId)).toEqual([]);
    });

    test('non-ASCII names and payloads holding NUL and emoji come back exactly', async (scope) => {
      const { world } = scope;
      const workflowName = 'commande-été-😀-注文';
      const payload = {
        text: `nul${nul}`,
        emoji: '😀👍🏽',
        accents: 'ünïcödé',
        cjk: '注文',
        escape: '\\ud800 is text',
      };
      const [created] = await world.events.createBatch(null, [runCreated(workflowName, payload), runStarted]);
      const runId = created!.run.runId;
      await world.events.create(runId, stepCreated('s1', 'étape-✓', payload));
      expect((await world.runs.get(runId)).workflowName).toBe(workflowName);
      expect((await world.runs.list({ workflowName })).data.map((run) => run.runId)).toEqual([runId]);
      expect((await world.runs.list({ workflowName: 'commande-été-😃-注文' })).data).toEqual([]);
      const log = await readLog(world, runId);
      expect(log[0]!.eventData).toMatchObject({ workflowName, input: payload });
      expect(log[2]!.eventData).toEqual({ stepName: 'étape-✓', input: payload });
      expect((await world.steps.get(runId, 's1')).stepName).toBe('étape-✓');

      // Stream names that differ only in one emoji are two streams; text chunks keep every code point.
      await world.streams.write(runId, 'ström-😀', 'a😀b');
      await world.streams.write(runId, 'ström-😃', `c${nul}d`);
      await world.streams.close(runId, 'ström-😀');
      await world.streams.close(runId, 'ström-😃');
      expect((await world.streams.list(runId)).map((stream) => [stream.name, stream.chunkCount])).toEqual([
        ['ström-😀', 1],
        ['ström-😃', 1],
      ]);
      const read = async (name: string) => {
        const chunks: unknown[] = [];
        for await (const chunk of world.streams.read(runId, name)) chunks.push(chunk.data);
        return chunks;
      };
      expect(await within(read('ström-😀'), 5000, 'the first stream')).toEqual(['a😀b']);
      expect(await within(read('ström-😃'), 5000, 'the second stream')).toEqual([`c${nul}d`]);

      const delivered = deferred<unknown>();
      consume(scope, 'conformance.text', async (message) => delivered.resolve(message.payload));
      await world.queue.send('conformance.text', payload, { groupKey: 'g-1' });
      expect(await within(delivered.promise, 5000, 'the queued payload')).toEqual(payload);
    });
  });
}
