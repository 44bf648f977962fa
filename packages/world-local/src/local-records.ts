import type { Hook, JsonValue, Run, RunEntityReader, Step, StreamChunk, Wait, WorldEvent } from '@cairn/core/world';

/*
 * The records world-local keeps: what its journal holds, and what it keeps in memory for
 * each run, message and stream. local-state.ts holds them all and changes them.
 */

/** Everything world-local journals. Replaying these in order rebuilds the whole state. */
export type JournalRecord =
  | { type: 'events'; runId: string; events: WorldEvent[] }
  | { type: 'message'; message: StoredMessage }
  | { type: 'ack'; messageId: string; at: number }
  | { type: 'retry'; messageId: string; attempt: number; deliverAt: number }
  | {
      type: 'chunk';
      runId: string;
      stream: string;
      index: number;
      createdAt: number;
      text?: string;
      base64?: string;
      key?: string;
    }
  | { type: 'stream_closed'; runId: string; stream: string; at: number }
  // Snapshot records: the materialised state itself, restored as it was decided rather
  // than re-decided, so no rule can refuse a state the live path already accepted.
  | { type: 'run'; run: Run }
  | { type: 'run_event'; runId: string; event: WorldEvent }
  | { type: 'step'; runId: string; step: Step }
  | { type: 'hook'; runId: string; hook: Hook }
  | { type: 'wait'; runId: string; wait: Wait };

export interface StoredMessage {
  messageId: string;
  topic: string;
  payload: JsonValue;
  groupKey?: string;
  idempotencyKey?: string;
  enqueuedAt: number;
  deliverAt: number;
  /** The attempt number the next delivery will carry. */
  attempt: number;
  ackedAt?: number;
}

export interface StreamRecord {
  name: string;
  chunks: StreamChunk[];
  /** Idempotency key → index of the chunk written with it. */
  keys: Map<string, number>;
  closed: boolean;
  createdAt: number;
  updatedAt: number;
}

export class RunRecord implements RunEntityReader {
  readonly events: WorldEvent[] = [];
  readonly steps = new Map<string, Step>();
  readonly hooks = new Map<string, Hook>();
  readonly waits = new Map<string, Wait>();
  readonly streams = new Map<string, StreamRecord>();
  /** Hooks still active, so ending a run does not scan every hook it ever had. */
  private readonly active = new Set<string>();
  /** The hook that received each delivery id of the run, so a repeat is refused without a scan. */
  private readonly deliveries = new Map<string, string>();

  constructor(
    public run: Run,
    private readonly tokens: Map<string, { runId: string; hookId: string }>,
  ) {}

  step(stepId: string) {
    return this.steps.get(stepId);
  }
  hook(hookId: string) {
    return this.hooks.get(hookId);
  }
  wait(waitId: string) {
    return this.waits.get(waitId);
  }
  tokenHolder(token: string) {
    return this.tokens.get(token);
  }
  deliveryHolder(deliveryId: string) {
    return this.deliveries.get(deliveryId);
  }

  /** Adds a committed event to the run's log, and its delivery id to the index. */
  addEvent(event: WorldEvent): void {
    this.events.push(event);
    if (event.eventType === 'hook_received' && event.eventData?.deliveryId !== undefined) {
      this.deliveries.set(event.eventData.deliveryId, event.correlationId);
    }
  }
  *activeHooks() {
    for (const hookId of this.active) yield this.hooks.get(hookId)!;
  }

  trackHook(hook: Hook): void {
    this.hooks.set(hook.hookId, hook);
    if (hook.status === 'active') this.active.add(hook.hookId);
    else this.active.delete(hook.hookId);
  }
}

export function chunkRecord(runId: string, stream: string, chunk: StreamChunk, key?: string): JournalRecord {
  const base = {
    type: 'chunk' as const,
    runId,
    stream,
    index: chunk.index,
    createdAt: chunk.createdAt,
    ...(key === undefined ? {} : { key }),
  };
  return typeof chunk.data === 'string'
    ? { ...base, text: chunk.data }
    : {
        ...base,
        base64: Buffer.from(chunk.data.buffer, chunk.data.byteOffset, chunk.data.byteLength).toString('base64'),
      };
}
