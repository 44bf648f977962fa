import { createClient, findWaitingChildren } from '@cairn/core';
import { type Run, type RunStatus, runStatuses, type World } from '@cairn/core/world';
import { allEvents, allPages } from '../commands/inspect.js';
import { chunkJson } from '../commands/streams.js';

/** How many of the newest runs the list page scans to count runs by status. */
export const runListScanLimit = 5000;

export interface RunListQuery {
  status?: RunStatus;
  workflow?: string;
  limit: number;
}

/** The run list: filtered runs, and counts by status over the newest `runListScanLimit` runs. */
export async function runList(world: World, query: RunListQuery) {
  const scanned: Run[] = [];
  let cursor: string | undefined;
  while (scanned.length < runListScanLimit) {
    const page = await world.runs.list({ limit: 1000, ...(cursor ? { cursor } : {}) });
    scanned.push(...page.data);
    if (page.cursor === null) break;
    cursor = page.cursor;
  }
  const counts = Object.fromEntries(runStatuses.map((status) => [status, 0])) as Record<RunStatus, number>;
  const workflows = new Set<string>();
  for (const run of scanned) {
    counts[run.status] += 1;
    workflows.add(run.workflowName);
  }
  const runs = scanned
    .filter(
      (run) =>
        (query.status === undefined || run.status === query.status) &&
        (query.workflow === undefined || run.workflowName === query.workflow),
    )
    .slice(0, query.limit);
  return {
    runs,
    counts,
    total: scanned.length,
    truncated: scanned.length >= runListScanLimit,
    workflows: [...workflows].sort(),
  };
}

/** Everything the run page shows, read in one go. */
export async function runDetail(world: World, runId: string) {
  const run = await world.runs.get(runId);
  const [events, steps, hooks, waits, streams] = await Promise.all([
    allEvents(world, runId),
    allPages((page) => world.steps.list(runId, page)),
    allPages((page) => world.hooks.list(runId, page)),
    allPages((page) => world.waits.list(runId, page)),
    world.streams.list(runId),
  ]);
  // A running parent stuck on a child whose workflow no worker has shows the child's reason.
  const waitingChildren = run.status === 'running' ? await findWaitingChildren(world, runId) : [];
  return { run, events, steps, hooks, waits, streams, waitingChildren, now: Date.now() };
}

/** Follows a stream, calling `send` per chunk, until it closes or `signal` aborts. */
export async function followStream(
  world: World,
  runId: string,
  name: string,
  fromIndex: number,
  signal: AbortSignal,
  send: (chunk: ReturnType<typeof chunkJson>) => void,
): Promise<void> {
  for await (const chunk of world.streams.read(runId, name, { fromIndex, signal })) send(chunkJson(chunk));
}

export const cancelRun = (world: World, runId: string, reason: string) => createClient({ world }).cancel(runId, reason);

export const resumeHook = (world: World, token: string, payload: unknown) =>
  // An operator resumes a hook they see on the page: answer at once if it is gone.
  createClient({ world }).resumeHook(token, payload, { timeoutMs: 0 });
