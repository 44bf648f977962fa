import type { Client } from '@cairn/core';
import { type Hook, HookNotFoundError, type Run, RunTerminalError, type World } from '@cairn/core/world';
import { CancellerDiedError, dyingCanceller } from './dying-canceller.js';
import { caseRunId, type FuzzCase } from './fuzz-case.js';
import { fuzzWorkflow } from './interpreter.js';
import { Random } from './random.js';
import { appendRecord } from './side-records.js';

const terminal = new Set(['completed', 'failed', 'cancelled']);

/** Every run in the World (the case's World holds nothing else), all pages. */
export async function listRuns(world: World): Promise<Run[]> {
  const runs: Run[] = [];
  let cursor: string | undefined;
  do {
    const page = await world.runs.list({ limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
    runs.push(...page.data);
    cursor = page.cursor ?? undefined;
  } while (cursor !== undefined);
  return runs;
}

export interface DriveResult {
  /** True when every run reached a terminal status before the deadline. */
  settled: boolean;
  /** Driver errors that are not the expected refusals. */
  problems: string[];
}

/**
 * Starts the case's runs (under fixed ids, so a restarted driver starts nothing twice) and
 * feeds every hook it finds: as many payloads as the hook reads, plus up to two extra that
 * may arrive after its disposal. With `hookBursts`, a hook's payloads go out together at a
 * seeded offset around the run's earliest pending sleep, so deliveries and wake-ups race.
 * Cancels the runs the case's plan names, on its schedule, some from a canceller that dies
 * right after the cancel commits. Returns once every run in the World is terminal, or at the
 * deadline.
 */
export async function drive(
  world: World,
  client: Client,
  fuzzCase: FuzzCase,
  sideDirectory: string,
  deadline: number,
  incarnation = 0,
): Promise<DriveResult> {
  const problems: string[] = [];
  // Every call the driver makes is tracked, so one that never settles is named, not waited on forever.
  const inFlight = new Map<number, string>();
  let nextCall = 0;
  const track = async <Value>(label: string, call: () => Promise<Value>): Promise<Value> => {
    const id = nextCall++;
    inFlight.set(id, label);
    try {
      return await call();
    } finally {
      inFlight.delete(id);
    }
  };
  const settleSends = async (settled: boolean): Promise<DriveResult> => {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<'gave up'>((resolve) => {
      timer = setTimeout(() => resolve('gave up'), 10_000);
    });
    const outcome = await Promise.race([Promise.all(sends), gaveUp]);
    clearTimeout(timer);
    if (outcome === 'gave up')
      problems.push(`calls that never settled (10 s after the runs ended): ${[...inFlight.values()].join('; ')}`);
    return { settled, problems };
  };
  for (const [index, program] of fuzzCase.programs.entries()) {
    const id = caseRunId(fuzzCase.seed, index);
    await track(`client.start(${id})`, () => client.start(fuzzWorkflow, { program }, { id }));
  }
  const planned = new Set<string>();
  const sends: Promise<void>[] = [];
  const startedAt = Date.now();
  for (const cancel of fuzzCase.faults.cancels) {
    sends.push(
      (async () => {
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, startedAt + cancel.atMs - Date.now())));
        const id = await cancelTarget(world, caseRunId(fuzzCase.seed, cancel.program), cancel.child);
        try {
          await track(`client.cancel(${id})${cancel.cancellerDies ? ' by a dying canceller' : ''}`, () =>
            (cancel.cancellerDies ? dyingCanceller(world) : client).cancel(id, `fuzz cancel at ${cancel.atMs} ms`),
          );
        } catch (error) {
          if (!(error instanceof CancellerDiedError)) problems.push(`cancel(${id}) failed: ${String(error)}`);
        }
      })(),
    );
  }
  const send = async (token: string, payload: string) => {
    try {
      // The driver only resumes hooks it has seen live; a short wait covers a token being
      // handed over, and extras sent after a disposal are refused instead of waited on.
      await track(`client.resumeHook(${token}, ${payload})`, () =>
        client.resumeHook(token, payload, { timeoutMs: 1000 }),
      );
      appendRecord(sideDirectory, 'accepted', { token, payload });
    } catch (error) {
      // A hook disposed, or its run ended, between listing it and resuming it: a refusal, not a fault.
      if (!HookNotFoundError.is(error) && !RunTerminalError.is(error))
        problems.push(`resumeHook(${token}) failed: ${String(error)}`);
    }
  };
  for (;;) {
    const runs = await track('runs.list', () => listRuns(world));
    const open = runs.filter((run) => !terminal.has(run.status));
    if (open.length === 0 && runs.length >= fuzzCase.programs.length) break;
    if (Date.now() > deadline) return settleSends(false);
    for (const run of open) {
      const hooks = await track(`hooks.list(${run.runId})`, () => world.hooks.list(run.runId, { limit: 1000 }));
      for (const hook of hooks.data) {
        if (hook.status !== 'active' || planned.has(hook.token)) continue;
        planned.add(hook.token);
        sends.push(feed(world, run.runId, hook, fuzzCase, incarnation, send));
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
  return settleSends(true);
}

/**
 * The run a planned cancel goes to: the program's run, or with `child` the first of its open
 * descendants in the World's listing (the run itself when it has none open).
 */
async function cancelTarget(world: World, runId: string, child: boolean): Promise<string> {
  if (!child) return runId;
  const open = (await listRuns(world)).filter((run) => run.runId.startsWith(`${runId}~`) && !terminal.has(run.status));
  return open[0]?.runId ?? runId;
}

/**
 * Sends one hook its payloads. A restarted driver (a killed owner) tops up what the hook
 * still needs, with payloads named for its incarnation so no two resumes carry the same one.
 */
async function feed(
  world: World,
  runId: string,
  hook: Hook,
  fuzzCase: FuzzCase,
  incarnation: number,
  send: (token: string, payload: string) => Promise<void>,
): Promise<void> {
  const token = hook.token;
  const random = new Random(fuzzCase.seed + incarnation).fork(token);
  const needed = Number(/\/n(\d+)$/.exec(token)?.[1] ?? 1) - hook.receivedCount;
  const count = Math.max(0, needed) + random.int(0, 2);
  const payloads = Array.from({ length: count }, (_, index) => `${token}#${incarnation}.${index}`);
  if (fuzzCase.faults.hookBursts) {
    const waits = (await world.waits.list(runId, { limit: 1000 })).data.filter((wait) => wait.status === 'waiting');
    const target = waits.length === 0 ? Date.now() : Math.min(...waits.map((wait) => wait.resumeAt));
    const at = target + random.int(-20, 30);
    if (at > Date.now()) await new Promise((resolve) => setTimeout(resolve, at - Date.now()));
    await Promise.all(payloads.map((payload) => send(token, payload)));
    return;
  }
  for (const payload of payloads) {
    await send(token, payload);
    if (random.chance(0.5)) await new Promise((resolve) => setTimeout(resolve, random.int(1, 60)));
  }
}
