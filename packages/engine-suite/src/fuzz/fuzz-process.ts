// A process of a fuzz case. As a `worker` it hosts one worker on a World several processes
// share; as an `owner` it is the only process of a World that one process owns, so it
// hosts the worker, the client and the driver. The test SIGKILLs and restarts it either way.
import { getEventListeners } from 'node:events';
import { createClient, createWorker, type World, WorldUnavailableError } from '@cairn/core';
import { drive } from './driver.js';
import { faultyWorld } from './faulty-world.js';
import type { FuzzCase } from './fuzz-case.js';
import { fuzzWorkflow } from './interpreter.js';
import { overlay } from './overlay.js';
import { sideDirectoryVariable } from './side-records.js';
import { openWorld, type WorldSpec } from './world-spec.js';

export interface ProcessConfig {
  role: 'worker' | 'owner';
  world: WorldSpec;
  fuzzCase: FuzzCase;
  sideDirectory: string;
  /** Index of this process among the case's processes (or incarnation, for an owner). */
  index: number;
  /** How long an owner drives before it gives up (a duration: this process's clock may be skewed). */
  remainingMs: number;
}

export interface ProcessReport {
  settled?: boolean;
  problems: string[];
}

type Message = { type: 'finish' };

const config = JSON.parse(process.env.CAIRN_FUZZ_CONFIG ?? 'null') as ProcessConfig | null;
if (!config) throw new Error('CAIRN_FUZZ_CONFIG must be set');
process.env[sideDirectoryVariable] = config.sideDirectory;
const baseline = resourceCounts();

/** Active handles and requests by type: what keeps the event loop alive. */
function resourceCounts(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
  return counts;
}

/** Pipes are stdio and the IPC channel, which node opens (and refs) lazily; no run owns one. */
const processPlumbing = new Set(['PipeWrap', 'TTYWrap']);

/** Resources beyond the ones the process had before it opened anything, once the World is closed. */
async function leftovers(): Promise<string[]> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const excess = [...resourceCounts()]
      .filter(([type, count]) => !processPlumbing.has(type) && count > (baseline.get(type) ?? 0))
      .map(([type, count]) => `${type} ×${count - (baseline.get(type) ?? 0)}`);
    if (excess.length === 0 || Date.now() > deadline) return excess;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * Watches `events.watch` for leaks of two kinds: calls still pending once every run has
 * ended, and abort listeners the World left on a call's signal after the call settled (a
 * waiter it never removed). Each call gets a signal of its own, linked to the engine's.
 */
function countWatches(world: World): { world: World; pending: () => number; leakedListeners: () => number } {
  let pending = 0;
  let leakedListeners = 0;
  return {
    pending: () => pending,
    leakedListeners: () => leakedListeners,
    world: overlay(world, {
      events: overlay(world.events, {
        watch: async (runId, afterSeq, signal, options) => {
          const own = new AbortController();
          const forward = () => own.abort(signal?.reason);
          if (signal?.aborted) own.abort(signal.reason);
          else signal?.addEventListener('abort', forward, { once: true });
          pending += 1;
          try {
            return await world.events.watch(runId, afterSeq, own.signal, options);
          } finally {
            pending -= 1;
            signal?.removeEventListener('abort', forward);
            leakedListeners += getEventListeners(own.signal, 'abort').length;
          }
        },
      }),
    }),
  };
}

const world = await openWorld(config.world);
const watched = countWatches(
  faultyWorld(world, config.fuzzCase.faults.world, config.fuzzCase.seed + config.index, config.sideDirectory),
);
const makeWorker = () =>
  createWorker({
    world: watched.world,
    workflows: [fuzzWorkflow],
    concurrency: config.fuzzCase.workerConcurrency,
    orchestrationLeaseMs: config.fuzzCase.faults.orchestrationLeaseMs,
  });
// start() re-enqueues unfinished runs, so an injected send failure can reject it. Like a
// supervisor restarting a worker that failed to start, stop it and start a new one (a
// stopped worker is not restartable): that is not the property under test.
let worker = makeWorker();
for (let attempt = 1; ; attempt++) {
  try {
    await worker.start();
    break;
  } catch (error) {
    if (!WorldUnavailableError.is(error) || attempt === 20) throw error;
    await worker.stop();
    worker = makeWorker();
  }
}

/** Marks progress on stdout, so a process that hangs and is killed says where it stopped. */
const phase = (name: string) => process.stdout.write(`PHASE ${name}\n`);

async function finish(report: ProcessReport): Promise<void> {
  phase('runs over; checking watches');
  // A pass that saw its run end may still be returning; give its watches a moment to settle.
  const settleBy = Date.now() + 2000;
  while (watched.pending() > 0 && Date.now() < settleBy) await new Promise((resolve) => setTimeout(resolve, 25));
  if (watched.leakedListeners() > 0)
    report.problems.push(
      `leak: events.watch left ${watched.leakedListeners()} abort listeners on signals of calls that had returned`,
    );
  if (watched.pending() > 0)
    report.problems.push(`leak: ${watched.pending()} events.watch calls still pending after every run ended`);
  phase('worker.stop()');
  await worker.stop();
  phase('world.close()');
  await world.close();
  phase('checking resources');
  const excess = await leftovers();
  if (excess.length > 0) report.problems.push(`leak: resources left after stop and close: ${excess.join(', ')}`);
  process.stdout.write(`REPORT ${JSON.stringify(report)}\n`);
  process.exit(0);
}

if (config.role === 'owner') {
  process.stdout.write('READY\n');
  phase('driving');
  const client = createClient({ world });
  const result = await drive(
    world,
    client,
    config.fuzzCase,
    config.sideDirectory,
    Date.now() + config.remainingMs,
    config.index,
  );
  await finish({ settled: result.settled, problems: result.problems });
} else {
  process.on('message', (message: Message) => {
    if (message.type === 'finish') void finish({ problems: [] });
  });
  process.stdout.write('READY\n');
}
