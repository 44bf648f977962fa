import {
  createWorker,
  InvalidInputError,
  RunResultTimeoutError,
  startChild,
  step,
  type Worker,
  workflow,
} from '@cairn/core';
import type { Logger, World } from '@cairn/core/world';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { allEvents, type EngineSuiteOptions, eventually, gate, type Harness, openHarness } from '../harness.js';
import { workflowTopic } from '../topics.js';

const gates = new Map<string, { started: ReturnType<typeof gate>; release: ReturnType<typeof gate> }>();
const gateFor = (key: string) => {
  if (!gates.has(key)) gates.set(key, { started: gate(), release: gate() });
  return gates.get(key)!;
};
const held = step('workers.held', async (key: string) => {
  gateFor(key).started.open();
  await gateFor(key).release.promise;
  return `held ${key}`;
});

const known = workflow('workers.known', async () => 'known');
const drained = workflow('workers.drained', async (key: string) => held(key));
/** Never given to any worker in these tests: what a forgotten registration looks like. */
const orphan = workflow('workers.orphan', async () => 'orphan');
const forgottenChild = workflow('workers.forgotten-child', async () => 'child');
const parent = workflow('workers.parent', async () => startChild(forgottenChild, undefined));

const key = () => `k${Math.random().toString(36).slice(2)}`;

/** The harness World, counting deliveries of orchestration messages per run. */
function countingDeliveries(world: World) {
  const deliveries = new Map<string, number>();
  const counted: World = {
    ...world,
    queue: {
      ...world.queue,
      send: (topic, payload, sendOptions) => world.queue.send(topic, payload, sendOptions),
      consume: (topic, handler, consumeOptions) =>
        world.queue.consume(
          topic,
          async (message, delivery) => {
            const runId = (message.payload as { runId?: unknown }).runId;
            if (typeof runId === 'string') deliveries.set(runId, (deliveries.get(runId) ?? 0) + 1);
            return handler(message, delivery);
          },
          consumeOptions,
        ),
    },
  };
  return { counted, deliveries };
}

type Level = 'debug' | 'info' | 'warn' | 'error';

/** A logger keeping every line with its level. */
function recordingLogger() {
  const all: { level: Level; message: string; details: Record<string, unknown> }[] = [];
  const record =
    (level: Level) =>
    (message: string, details: Record<string, unknown> = {}) =>
      void all.push({ level, message, details });
  const logger: Logger = { debug: record('debug'), info: record('info'), warn: record('warn'), error: record('error') };
  return { logger, all, at: (level: Level) => all.filter((line) => line.level === level) };
}

export function describeWorkers(options: EngineSuiteOptions): void {
  describe(`${options.name}: workers`, () => {
    let harness: Harness;
    const ownWorkers: Worker[] = [];
    beforeEach(async () => {
      harness = await openHarness(options);
    });
    afterEach(async () => {
      await Promise.all(ownWorkers.splice(0).map((worker) => worker.stop()));
      await harness.close();
    });

    /** A worker on a World that counts deliveries, reporting to `logger`. */
    async function startCounted(workflows: Parameters<typeof createWorker>[0]['workflows'], logger?: Logger | false) {
      const { counted, deliveries } = countingDeliveries(harness.world);
      const worker = createWorker({ world: counted, workflows, ...(logger === undefined ? {} : { logger }) });
      ownWorkers.push(worker);
      await worker.start();
      return deliveries;
    }
    const delivered = (deliveries: Map<string, number>, runId: string, times: number) =>
      eventually(
        async () => ((deliveries.get(runId) ?? 0) >= times ? true : undefined),
        20_000,
        `${times} deliveries of run ${runId}`,
      );

    it('refuses two different workflows with one name at creation, naming both', () => {
      const first = workflow('workers.twin', async function chargeCard() {
        return 1;
      });
      const second = workflow('workers.twin', async function refundCard() {
        return 2;
      });
      let thrown: unknown;
      try {
        createWorker({ world: harness.world, workflows: [known, first, second] });
      } catch (error) {
        thrown = error;
      }
      expect(InvalidInputError.is(thrown)).toBe(true);
      expect(thrown).toMatchObject({ field: 'workflows[2].name', value: 'workers.twin' });
      const message = (thrown as Error).message;
      for (const part of ['workflows[1]', '"chargeCard"', 'workflows[2]', '"refundCard"', '"workers.twin"']) {
        expect(message).toContain(part);
      }
      // The same definition twice is one workflow, not two.
      expect(() => createWorker({ world: harness.world, workflows: [first, first] })).not.toThrow();
    });

    it('warns once per run about a workflow it does not have, naming it and the ones it has', async () => {
      const lines = recordingLogger();
      const deliveries = await startCounted([known], lines.logger);
      const run = await harness.client.start(orphan, undefined);
      // Redelivered with backoff; still one warning, and no other line about the run at any level.
      await delivered(deliveries, run.id, 3);
      const warnings = lines.at('warn');
      const about = warnings.filter((warning) => warning.details.runId === run.id);
      expect(about).toHaveLength(1);
      expect(lines.all.filter((line) => JSON.stringify(line).includes(run.id))).toHaveLength(1);
      expect(about[0]!.message).toContain('"workers.orphan"');
      expect(about[0]!.message).toContain('"workers.known"');
      expect(about[0]!.details).toMatchObject({ workflowName: 'workers.orphan', workflows: ['workers.known'] });
      expect(await run.status()).toBe('pending');
    });

    it('warns about a child whose workflow was not registered, naming the waiting parent', async () => {
      const warnings: { message: string; details: Record<string, unknown> }[] = [];
      const deliveries = await startCounted([parent], {
        warn: (message, details = {}) => warnings.push({ message, details }),
      });
      const run = await harness.client.start(parent, undefined);
      const warning = await eventually(
        async () => warnings.find((candidate) => candidate.details.parentRunId === run.id),
        20_000,
        'a warning about the child',
      );
      expect(warning.message).toContain('"workers.forgotten-child"');
      expect(warning.message).toContain(run.id);
      await delivered(deliveries, warning.details.runId as string, 3);
      expect(warnings.filter((candidate) => candidate.details.runId === warning.details.runId)).toHaveLength(1);
      expect(RunResultTimeoutError.is(await run.result({ timeoutMs: 20 }).catch((error: unknown) => error))).toBe(true);
    });

    it('logs its start and stop at info, with its workflows and concurrency', async () => {
      const lines = recordingLogger();
      const worker = createWorker({ world: harness.world, workflows: [known], concurrency: 3, logger: lines.logger });
      await worker.start();
      await worker.stop();
      expect(lines.at('info').map((line) => line.message)).toEqual([
        `worker started on ${harness.world.name}`,
        `worker stopped on ${harness.world.name}`,
      ]);
      expect(lines.at('info')[0]!.details).toMatchObject({ workflows: ['workers.known'], concurrency: 3 });
      expect(lines.at('warn')).toEqual([]);
    });

    it('a pass that lost its lease is logged at debug, not as a warning, and the run still completes', async () => {
      const k = key();
      const lines = recordingLogger();
      // The first delivery of each wake cannot renew its lease: the pass holding the step in
      // flight learns it lost the run, hands the step's outcome over, and the wake comes back.
      const refused = new Set<string>();
      const losing: World = {
        ...harness.world,
        queue: {
          ...harness.world.queue,
          consume: (topic, handler, consumeOptions) =>
            harness.world.queue.consume(
              topic,
              (message, delivery) => {
                const first = topic === workflowTopic && message.attempt === 1 && !refused.has(message.messageId);
                if (first) refused.add(message.messageId);
                return handler(message, first ? { extendLease: async () => false } : delivery);
              },
              consumeOptions,
            ),
        },
      };
      const worker = createWorker({
        world: losing,
        workflows: [drained],
        orchestrationLeaseMs: 300,
        logger: lines.logger,
      });
      ownWorkers.push(worker);
      await worker.start();
      const run = await harness.client.start(drained, k);
      await gateFor(k).started.promise;
      const lost = await eventually(
        async () => lines.at('debug').find((line) => String(line.details.error).startsWith('LeaseLostError')),
        20_000,
        'a debug line about the lost lease',
      );
      expect(lost.message).toContain('orchestration pass failed');
      gateFor(k).release.open();
      expect(await run.result({ timeoutMs: 20_000 })).toBe(`held ${k}`);
      expect(lines.at('warn')).toEqual([]);
      expect(lines.at('error')).toEqual([]);
    });

    it('warns on console.warn by default, and not at all with logger: false', async () => {
      const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
      try {
        await startCounted([known]);
        const loud = await harness.client.start(orphan, undefined);
        await eventually(
          async () => (warn.mock.calls.some((call) => String(call[0]).includes(loud.id)) ? true : undefined),
          20_000,
          'a console warning',
        );
        expect(String(warn.mock.calls.find((call) => String(call[0]).includes(loud.id))![0])).toContain(
          '"workers.orphan"',
        );
        await Promise.all(ownWorkers.splice(0).map((worker) => worker.stop()));
        warn.mockClear();
        const deliveries = await startCounted([known], false);
        const quiet = await harness.client.start(orphan, undefined);
        await delivered(deliveries, quiet.id, 2);
        expect(warn).not.toHaveBeenCalled();
      } finally {
        warn.mockRestore();
      }
    });

    it('stop() waits for the step in flight to finish and be recorded, then returns', async () => {
      const k = key();
      const worker = await harness.startWorker({ workflows: [drained] });
      const run = await harness.client.start(drained, k);
      await gateFor(k).started.promise;
      let stopped = false;
      const stopping = worker.stop().then(() => {
        stopped = true;
      });
      for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
      expect(stopped).toBe(false);
      gateFor(k).release.open();
      await stopping;
      const events = await allEvents(harness.world, run.id);
      expect(events.filter((event) => event.eventType === 'step_completed')).toHaveLength(1);
      expect((await harness.world.runs.get(run.id)).status).toBe('completed');
      await worker.stop();
    });
  });
}
