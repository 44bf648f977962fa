import type { World, WorldEvent } from '@cairn/core/world';

/** Every event of a run, paged through `events.list`. */
export async function readLog(world: World, runId: string): Promise<WorldEvent[]> {
  const events: WorldEvent[] = [];
  for (let hasMore = true; hasMore; ) {
    const page = await world.events.list(runId, { afterSeq: events.length, limit: 1000 });
    events.push(...page.data);
    hasMore = page.hasMore && page.data.length > 0;
  }
  return events;
}

export interface LogAudit {
  /** Broken log invariants, one line each (duplicates included). */
  problems: string[];
  /** Entities recorded twice: a second creation, a second terminal event, or one logical step created twice. */
  duplicates: number;
  /** The run failed with REPLAY_DIVERGENCE. */
  diverged: boolean;
}

const runTerminals = new Set(['run_completed', 'run_failed', 'run_cancelled']);
const creations = new Set(['step_created', 'wait_created', 'hook_created']);

// biome-ignore lint/suspicious/noExplicitAny: event data differs per type; the audit reads a few fields.
const data = (event: WorldEvent): any => (event as { eventData?: unknown }).eventData ?? {};
const correlation = (event: WorldEvent): string => (event as { correlationId?: string }).correlationId ?? '';

/**
 * The checks every storm run's log must pass whatever its shape: dense seqs, time never
 * going backwards, one creation per correlation id, at most one terminal event per step and
 * per wait, no delivery to a disposed hook, one logical step (name + input) created once, no
 * run_waiting once the run has started (before that it is a worker's harmless note), and
 * exactly one run terminal event, last.
 */
export function auditLog(events: readonly WorldEvent[]): LogAudit {
  const problems: string[] = [];
  let duplicates = 0;
  const duplicate = (message: string) => {
    duplicates += 1;
    problems.push(`duplicate: ${message}`);
  };
  const created = new Map<string, number>();
  const stepEnded = new Map<string, number>();
  const waitEnded = new Map<string, number>();
  const hookDisposed = new Map<string, number>();
  const logicalSteps = new Map<string, number>();
  let lastCreatedAt = Number.NEGATIVE_INFINITY;
  let terminals = 0;
  let diverged = false;
  let started = false;
  events.forEach((event, index) => {
    const at = `seq ${event.seq}`;
    if (event.seq !== index + 1) problems.push(`seqs not dense: position ${index + 1} holds seq ${event.seq}`);
    if (event.createdAt < lastCreatedAt) problems.push(`createdAt goes backwards at ${at}`);
    lastCreatedAt = Math.max(lastCreatedAt, event.createdAt);
    const id = correlation(event);
    const type = event.eventType;
    if (index === 0 && type !== 'run_created') problems.push(`log starts with ${type}, not run_created`);
    if (terminals > 0) problems.push(`${type} at ${at} after the run's terminal event`);
    if (runTerminals.has(type)) {
      terminals += 1;
      if (type === 'run_failed' && data(event).error?.code === 'REPLAY_DIVERGENCE') diverged = true;
    }
    // A worker's note on why a run waits to start; the World takes it only while pending.
    if (type === 'run_waiting' && started) problems.push(`run_waiting at ${at} after run_started`);
    if (type === 'run_started') started = true;
    if (creations.has(type)) {
      const first = created.get(id);
      if (first !== undefined) duplicate(`${type} for ${id} at seq ${first} and ${at}`);
      else created.set(id, event.seq);
      if (type === 'step_created') {
        const key = `${data(event).stepName} ${JSON.stringify(data(event).input)}`;
        const firstLogical = logicalSteps.get(key);
        if (firstLogical !== undefined) duplicate(`step ${key} created at seq ${firstLogical} and ${at}`);
        else logicalSteps.set(key, event.seq);
      }
      return;
    }
    if (type.startsWith('step_') || type.startsWith('wait_') || type.startsWith('hook_')) {
      if (!created.has(id)) problems.push(`${type} at ${at} for ${id}, which was never created`);
    }
    if (type === 'step_completed' || type === 'step_failed' || type === 'step_retrying') {
      const ended = stepEnded.get(id);
      if (ended !== undefined) duplicate(`${type} for step ${id} at ${at} after its terminal event at seq ${ended}`);
      else if (type !== 'step_retrying') stepEnded.set(id, event.seq);
    } else if (type === 'wait_completed') {
      const ended = waitEnded.get(id);
      if (ended !== undefined) duplicate(`wait_completed for ${id} at seq ${ended} and ${at}`);
      else waitEnded.set(id, event.seq);
    } else if (type === 'hook_received' || type === 'hook_disposed') {
      const disposed = hookDisposed.get(id);
      if (disposed !== undefined && type === 'hook_disposed')
        duplicate(`hook_disposed for ${id} at seq ${disposed} and ${at}`);
      else if (disposed !== undefined)
        problems.push(`hook_received for ${id} at ${at} after hook_disposed at seq ${disposed}`);
      if (type === 'hook_disposed' && disposed === undefined) hookDisposed.set(id, event.seq);
    }
  });
  if (terminals !== 1) problems.push(`${terminals} run terminal events, expected exactly one`);
  else if (!runTerminals.has(events.at(-1)?.eventType ?? '')) problems.push('the run terminal event is not last');
  if (events.filter((event) => event.eventType === 'run_started').length > 1) duplicate('run_started twice');
  return { problems, duplicates, diverged };
}

export interface StepSeen {
  id: string;
  name: string;
  input: unknown;
  createdSeq: number;
  completedSeq?: number;
  failedSeq?: number;
  output?: unknown;
}

export interface WaitSeen {
  id: string;
  resumeAt: number;
  createdSeq: number;
  completedSeq?: number;
}

export interface HookSeen {
  id: string;
  token: string;
  createdSeq: number;
  received: { seq: number; payload: unknown }[];
  disposedSeq?: number;
}

/**
 * A run's log, indexed for the shape checks: steps by name and input, waits and hooks in
 * creation order. Payloads and inputs in the storms are plain JSON, stored as they are.
 */
export class LogIndex {
  readonly steps: StepSeen[] = [];
  readonly waits: WaitSeen[] = [];
  readonly hooks: HookSeen[] = [];
  private readonly byId = new Map<string, StepSeen | WaitSeen | HookSeen>();
  private readonly byKey = new Map<string, StepSeen>();

  constructor(readonly events: readonly WorldEvent[]) {
    for (const event of events) {
      const id = correlation(event);
      const entity = this.byId.get(id);
      switch (event.eventType) {
        case 'step_created': {
          const seen: StepSeen = { id, name: data(event).stepName, input: data(event).input, createdSeq: event.seq };
          this.steps.push(seen);
          this.byId.set(id, seen);
          this.byKey.set(LogIndex.key(seen.name, seen.input as unknown[]), seen);
          break;
        }
        case 'step_completed':
          if (entity && 'name' in entity && entity.completedSeq === undefined) {
            entity.completedSeq = event.seq;
            entity.output = data(event).output;
          }
          break;
        case 'step_failed':
          if (entity && 'name' in entity) entity.failedSeq ??= event.seq;
          break;
        case 'wait_created': {
          const seen: WaitSeen = { id, resumeAt: data(event).resumeAt, createdSeq: event.seq };
          this.waits.push(seen);
          this.byId.set(id, seen);
          break;
        }
        case 'wait_completed':
          if (entity && 'resumeAt' in entity) entity.completedSeq ??= event.seq;
          break;
        case 'hook_created': {
          const seen: HookSeen = { id, token: data(event).token, createdSeq: event.seq, received: [] };
          this.hooks.push(seen);
          this.byId.set(id, seen);
          break;
        }
        case 'hook_received':
          if (entity && 'token' in entity) entity.received.push({ seq: event.seq, payload: data(event).payload });
          break;
        case 'hook_disposed':
          if (entity && 'token' in entity) entity.disposedSeq ??= event.seq;
          break;
      }
    }
  }

  static key(name: string, args: unknown[]): string {
    return `${name} ${JSON.stringify(args)}`;
  }

  /** The step `name` called with exactly `args`, if the log created it. */
  step(name: string, ...args: unknown[]): StepSeen | undefined {
    return this.byKey.get(LogIndex.key(name, args));
  }

  /** Steps of `name` whose first argument (the round) is `round`. */
  stepsOfRound(name: string, round: number): StepSeen[] {
    return this.steps.filter((seen) => seen.name === name && (seen.input as unknown[])[0] === round);
  }

  hook(token: string): HookSeen | undefined {
    return this.hooks.find((seen) => seen.token === token);
  }
}

/** Collects shape-check failures with the run they concern. */
export class Findings {
  readonly problems: string[] = [];
  constructor(private readonly prefix: string) {}

  fail(message: string): void {
    this.problems.push(`${this.prefix}: ${message}`);
  }

  /** Fails unless `condition`; returns it, so a check can guard the ones that depend on it. */
  check(condition: boolean, message: string): boolean {
    if (!condition) this.fail(message);
    return condition;
  }
}
