import {
  createClient,
  createHook,
  createWorker,
  replayRun,
  sleep,
  startChild,
  step,
  type Worker,
  workflow,
} from '@cairn/core';
import { propagation, SpanStatusCode, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalWorld } from '../src/index.js';
import { temporaryDirectory, within } from './helpers.js';

const exporter = new InMemorySpanExporter();
beforeAll(() => {
  trace.setGlobalTracerProvider(new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] }));
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});
afterAll(() => {
  trace.disable();
  propagation.disable();
});

let failuresLeft = 1;
const flaky = step(
  'tracing.flaky',
  async () => {
    if (failuresLeft-- > 0) throw new Error('first attempt fails');
    return 'charged';
  },
  { backoff: { initialMs: 5 } },
);
const child = workflow('tracing.child', async () => 'child done');
const traced = workflow('tracing.parent', async (token: string) => {
  const charged = await flaky();
  await sleep(30);
  const approval = await createHook<string>({ token });
  const childResult = await startChild(child, undefined);
  return [charged, approval, childResult];
});

describe('tracing with OpenTelemetry', () => {
  it('puts a run, its step attempts, sleeps, hooks and children in one trace, once each', async () => {
    const world = createLocalWorld({ dir: await temporaryDirectory() });
    const workers: Worker[] = [createWorker({ world, workflows: [traced, child] })];
    await workers[0]!.start();
    const client = createClient({ world });
    const token = `tracing-${Math.random()}`;
    const run = await client.start(traced, token);
    await within(waitForToken(world, token), 10_000, 'the hook');
    await client.resumeHook(token, 'approved');
    expect(await within(run.result(), 10_000, 'the result')).toEqual(['charged', 'approved', 'child done']);

    // Replaying the finished run, in a fresh worker too, must add no span.
    await workers[0]!.stop();
    const settledCount = exporter.getFinishedSpans().length;
    expect((await replayRun(world, traced, run.id)).status).toBe('completed');
    workers.push(createWorker({ world, workflows: [traced, child] }));
    await workers[1]!.start();
    await workers[1]!.stop();
    expect(exporter.getFinishedSpans()).toHaveLength(settledCount);

    const spans = exporter.getFinishedSpans();
    const names = spans.map((span) => span.name).sort();
    expect(names).toEqual(
      [
        'cairn.hook',
        'cairn.run tracing.child',
        'cairn.run tracing.parent',
        'cairn.sleep',
        'cairn.start tracing.parent',
        'cairn.step tracing.flaky',
        'cairn.step tracing.flaky',
      ].sort(),
    );
    expect(new Set(spans.map((span) => span.spanContext().traceId)).size).toBe(1);
    const attempts = spans.filter((span) => span.name === 'cairn.step tracing.flaky');
    expect(attempts.map((span) => span.attributes['cairn.step.attempt']).sort()).toEqual([1, 2]);
    expect(attempts.find((span) => span.attributes['cairn.step.attempt'] === 1)!.status.code).toBe(
      SpanStatusCode.ERROR,
    );
    const hook = spans.find((span) => span.name === 'cairn.hook')!;
    expect(hook.events.map((event) => event.name)).toEqual(['cairn.hook.received']);
    const sleepSpan = spans.find((span) => span.name === 'cairn.sleep')!;
    const sleptMs =
      (sleepSpan.endTime[0] - sleepSpan.startTime[0]) * 1000 + (sleepSpan.endTime[1] - sleepSpan.startTime[1]) / 1e6;
    expect(sleptMs).toBeGreaterThanOrEqual(29);
    await world.close();
  });
});

async function waitForToken(world: ReturnType<typeof createLocalWorld>, token: string): Promise<void> {
  for (;;) {
    if (await world.hooks.getByToken(token).catch(() => undefined)) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
