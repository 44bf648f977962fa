import { isDeepStrictEqual } from 'node:util';
import { type Run, replayRun, type World, type WorldEvent } from '@cairn/core';
import { auditLog, readLog } from '../storms/audit.js';
import { listRuns } from './driver.js';
import { type FuzzOutput, fuzzWorkflow, type StepArguments } from './interpreter.js';
import type { AcceptedRecord, DeliveryRecord, ExecutionRecord, FaultRecord, LeaseLossRecord } from './side-records.js';

/** A broken property: which, on which run, and what the log showed. */
export interface Violation {
  property: string;
  runId: string;
  detail: string;
}

/** What the case's processes recorded outside the World. */
export interface SideEvidence {
  executions: ExecutionRecord[];
  faults: FaultRecord[];
  accepted: AcceptedRecord[];
  /** Deliveries whose lease the World reported lost while their handler ran. */
  leaseLosses: LeaseLossRecord[];
  /** Every queue delivery handled, for violation reports. */
  deliveries: DeliveryRecord[];
  /** Processes the test SIGKILLed: a body that ran there may legitimately run again. */
  killedPids: ReadonlySet<number>;
}

// biome-ignore lint/suspicious/noExplicitAny: event data differs per type; the checks read a few fields.
const data = (event: WorldEvent): any => (event as { eventData?: unknown }).eventData ?? {};
const correlation = (event: WorldEvent): string => (event as { correlationId?: string }).correlationId ?? '';
const terminal = new Set(['completed', 'failed', 'cancelled']);

/**
 * Checks every run of the case's World against the fuzzer's properties. Only final logs
 * and side records are read: no property depends on how fast anything happened.
 */
export async function checkProperties(world: World, evidence: SideEvidence): Promise<Violation[]> {
  const violations: Violation[] = [];
  for (const run of await listRuns(world)) {
    const fail = (property: string, detail: string) => violations.push({ property, runId: run.runId, detail });
    const events = await readLog(world, run.runId);
    if (!terminal.has(run.status)) {
      const tail = events.slice(-5).map((event) => {
        const placement = event.eventType === 'step_created' ? data(event).placement : undefined;
        return `${event.seq}:${event.eventType}${placement ? `(${placement})` : ''}`;
      });
      // Its children's passes and refused writes too: a child that ended but never told its
      // parent is one way a parent is left waiting.
      const family = (runId: string) => runId === run.runId || runId.startsWith(`${run.runId}~`);
      fail(
        'every run ends',
        `still ${run.status}; log ends ${tail.join(' ')}; passes ${describeDeliveries(evidence.deliveries, family)}; refusals ${describeRefusals(evidence.faults, family)}`,
      );
      checkLogShape(events, fail, false);
    } else {
      checkLogShape(events, fail, true);
    }
    checkWaits(events, fail);
    checkExecutions(run, events, evidence, fail);
    checkAccepted(events, evidence, fail);
    if (run.status === 'completed') {
      const output = run.output as unknown as FuzzOutput;
      checkHooks(events, output, fail);
      await checkStream(world, run.runId, output, fail);
    }
    if (terminal.has(run.status)) {
      await checkReplay(world, run, fail);
      await checkStreamsClosed(world, run.runId, fail);
    }
  }
  return violations;
}

/**
 * A run's streams are closed once it has ended, however it ended (a cancel too), so their
 * readers finish. Checked where the World closes them in the append that ends the run:
 * elsewhere the pass closes them after that append, and may still be about to.
 */
async function checkStreamsClosed(world: World, runId: string, fail: Fail): Promise<void> {
  if (world.capabilities.streams.closedWithRun !== true) return;
  const open = (await world.streams.list(runId)).filter((stream) => !stream.closed);
  if (open.length > 0)
    fail('a run that has ended has closed its streams', `open: ${open.map((stream) => stream.name).join(', ')}`);
}

type Fail = (property: string, detail: string) => void;

/** Dense seqs, one creation per entity, nothing after the terminal event (the storms' audit). */
function checkLogShape(events: WorldEvent[], fail: Fail, ended: boolean): void {
  for (const problem of auditLog(events).problems) {
    // An unfinished run has no terminal event; that is reported as "every run ends".
    if (!ended && /run terminal event/.test(problem)) continue;
    fail('the log is dense, without duplicate creations or events after the end', problem);
  }
}

function checkWaits(events: WorldEvent[], fail: Fail): void {
  const resumeAt = new Map<string, number>();
  for (const event of events) {
    if (event.eventType === 'wait_created') resumeAt.set(correlation(event), data(event).resumeAt);
    if (event.eventType !== 'wait_completed') continue;
    const due = resumeAt.get(correlation(event));
    if (due !== undefined && event.createdAt < due)
      fail(
        'every wait_completed is at or after its resumeAt',
        `wait ${correlation(event)} completed at seq ${event.seq}, ${due - event.createdAt} ms before its resumeAt`,
      );
  }
}

/**
 * No body runs more often than its retries allow, plus one run per event that could have
 * cost one: a kill of a process it ran in, a refused write of its outcome, or a lost lease
 * of its run in a process it ran in (the World handed the run to another worker while the
 * first was stalled, and neither can tell whether the other is alive).
 */
function checkExecutions(run: Run, events: WorldEvent[], evidence: SideEvidence, fail: Fail): void {
  for (const event of events) {
    if (event.eventType !== 'step_created') continue;
    const name = String(data(event).stepName);
    const match = /^fuzz\.step\.r(\d)$/.exec(name);
    if (!match) continue;
    const args = (data(event).input as [StepArguments])[0];
    const stepId = correlation(event);
    const runs = evidence.executions.filter((record) => record.runId === run.runId && record.key === args.key);
    const crashed = runs.filter((record) => evidence.killedPids.has(record.pid)).length;
    const refused = evidence.faults.filter(
      (fault) => fault.runId === run.runId && fault.correlationIds.includes(stepId),
    ).length;
    const ranIn = new Set(runs.map((record) => record.pid));
    const leasesLost = evidence.leaseLosses.filter((loss) => loss.runId === run.runId && ranIn.has(loss.pid)).length;
    const allowed = Number(match[1]) + 1 + crashed + refused + leasesLost;
    if (runs.length > allowed)
      fail(
        'no step body runs more often than its retries and the injected crashes allow',
        `step ${args.key} (${stepId}, maxRetries ${match[1]}, attempts ${args.outcomes.join(',')}) ran ${runs.length} times; allowed ${allowed} (${crashed} in killed processes, ${refused} refused writes, ${leasesLost} lost leases); bodies ${describeBodies(runs)}; log ${describeStepEvents(events, stepId)}; passes ${describeDeliveries(evidence.deliveries, run.runId)}; refusals ${describeRefusals(evidence.faults, run.runId)}`,
      );
  }
}

/** Each body run as pid/attempt@time, so a violation shows where and when they ran. */
const describeBodies = (runs: readonly ExecutionRecord[]) =>
  runs.map((record) => `${record.pid}/${record.attempt ?? '?'}@${record.at ?? '?'}`).join(' ');

/** Which runs a description covers: one run's id, or a test of ids. */
type RunFilter = string | ((runId: string) => boolean);
const covers = (filter: RunFilter, runId: string | null) =>
  runId !== null && (typeof filter === 'string' ? runId === filter : filter(runId));

/**
 * The run's queue deliveries as topic pid#attempt start..end outcome, in start order (with
 * the run's id in front when the filter covers several runs).
 */
const describeDeliveries = (deliveries: readonly DeliveryRecord[], filter: RunFilter) =>
  deliveries
    .filter((delivery) => covers(filter, delivery.runId))
    .sort((x, y) => x.start - y.start)
    .map(
      (delivery) =>
        `${typeof filter === 'string' ? '' : `${delivery.runId} `}${delivery.topic} ${delivery.pid}#${delivery.attempt} ${delivery.start}..${delivery.end} ${delivery.outcome}`,
    )
    .join(', ');

/** The run's refused writes as pid:method[event types|correlation ids]. */
const describeRefusals = (faults: readonly FaultRecord[], filter: RunFilter) =>
  faults
    .filter((fault) => covers(filter, fault.runId))
    .map(
      (fault) =>
        `${typeof filter === 'string' ? '' : `${fault.runId} `}${fault.pid}:${fault.method}[${fault.eventTypes.join('+')}|${fault.correlationIds.join('+')}]`,
    )
    .join(', ');

/** The step's events as seq:type@createdAt. */
const describeStepEvents = (events: readonly WorldEvent[], stepId: string) =>
  events
    .filter((event) => correlation(event) === stepId)
    .map((event) => {
      const placement = event.eventType === 'step_created' ? `(${data(event).placement})` : '';
      return `${event.seq}:${event.eventType}${placement}@${event.createdAt}`;
    })
    .join(' ');

/** Hook payloads delivered before disposal, per token, in log order. */
function deliveries(events: WorldEvent[]): Map<string, unknown[]> {
  const tokens = new Map<string, string>();
  const delivered = new Map<string, unknown[]>();
  const disposed = new Set<string>();
  for (const event of events) {
    const id = correlation(event);
    if (event.eventType === 'hook_created') {
      tokens.set(id, data(event).token);
      delivered.set(data(event).token, []);
    } else if (event.eventType === 'hook_disposed') disposed.add(id);
    else if (event.eventType === 'hook_received' && !disposed.has(id))
      delivered.get(tokens.get(id) ?? '')?.push(data(event).payload);
  }
  return delivered;
}

/** Each payload accepted before disposal goes to exactly one next() call, in delivery order. */
function checkHooks(events: WorldEvent[], output: FuzzOutput, fail: Fail): void {
  const delivered = deliveries(events);
  for (const [token, seen] of Object.entries(output.hooks)) {
    const log = delivered.get(token) ?? [];
    if (!isDeepStrictEqual(seen, log.slice(0, seen.length)))
      fail(
        'every hook payload accepted before disposal goes to exactly one next() call, in delivery order',
        `hook ${token}: next() calls got ${JSON.stringify(seen)}, the log delivered ${JSON.stringify(log)}`,
      );
  }
}

/** A resume the driver saw accepted is in the log exactly once. */
function checkAccepted(events: WorldEvent[], evidence: SideEvidence, fail: Fail): void {
  const tokens = new Map<string, string>();
  const received = new Map<string, number>();
  for (const event of events) {
    if (event.eventType === 'hook_created') tokens.set(correlation(event), data(event).token);
    if (event.eventType === 'hook_received') {
      const key = `${tokens.get(correlation(event))} ${JSON.stringify(data(event).payload)}`;
      received.set(key, (received.get(key) ?? 0) + 1);
    }
  }
  for (const record of evidence.accepted) {
    if (![...tokens.values()].includes(record.token)) continue;
    const count = received.get(`${record.token} ${JSON.stringify(record.payload)}`) ?? 0;
    if (count !== 1)
      fail(
        'every hook payload accepted before disposal goes to exactly one next() call, in delivery order',
        `accepted resume ${record.payload} is in the log ${count} times`,
      );
  }
}

async function checkStream(world: World, runId: string, output: FuzzOutput, fail: Fail): Promise<void> {
  const streams = await world.streams.list(runId);
  if (!streams.some((stream) => stream.name === 'fuzz')) {
    if (output.writes.length > 0)
      fail('stream writes land exactly once', `no stream, expected ${output.writes.length} chunks`);
    return;
  }
  const chunks: string[] = [];
  const signal = AbortSignal.timeout(5000);
  for await (const chunk of world.streams.read(runId, 'fuzz', { signal }))
    chunks.push(typeof chunk.data === 'string' ? chunk.data : Buffer.from(chunk.data).toString());
  const duplicated = chunks.filter((chunk, index) => chunks.indexOf(chunk) !== index);
  const unknown = chunks.filter((chunk) => !output.issued.includes(chunk));
  const missing = output.writes.filter((chunk) => !chunks.includes(chunk));
  if (duplicated.length + unknown.length + missing.length > 0)
    fail(
      'stream writes land exactly once',
      `stream holds ${JSON.stringify(chunks)}; duplicated ${JSON.stringify(duplicated)}, never written ${JSON.stringify(unknown)}, resolved but missing ${JSON.stringify(missing)}`,
    );
}

async function checkReplay(world: World, run: Run, fail: Fail): Promise<void> {
  if (run.status === 'cancelled') return;
  const verdict = await replayRun(world, fuzzWorkflow, run.runId);
  if (run.status === 'completed') {
    if (verdict.status !== 'completed' || !isDeepStrictEqual(verdict.output, run.output))
      fail(
        'replayRun over the final log reproduces the result',
        `run completed; replay gave ${describeVerdict(verdict)}`,
      );
    return;
  }
  const recorded = run.error as { name?: string; message?: string } | undefined;
  const replayed = (verdict.status === 'failed' ? verdict.error : undefined) as
    | { name?: string; message?: string }
    | undefined;
  if (verdict.status !== 'failed' || recorded?.message !== replayed?.message || recorded?.name !== replayed?.name)
    fail(
      'replayRun over the final log reproduces the result',
      `run failed with ${recorded?.name}: ${recorded?.message}; replay gave ${describeVerdict(verdict)}`,
    );
}

function describeVerdict(verdict: Awaited<ReturnType<typeof replayRun>>): string {
  const text = JSON.stringify(
    verdict.status === 'diverged' ? { status: 'diverged', error: verdict.error.message } : verdict,
  );
  return text.length > 400 ? `${text.slice(0, 400)}…` : text;
}
