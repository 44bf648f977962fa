import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/*
 * Side records: what the processes of a case did, outside the World. Each process appends
 * JSON lines to files of its own, named for its pid, opened O_APPEND per write, so a line
 * written before a SIGKILL is on disk and lines of different processes never interleave.
 */

/** The directory the case's processes record into, passed down in the environment. */
export const sideDirectoryVariable = 'CAIRN_FUZZ_DIR';

/** A step body started. */
export interface ExecutionRecord {
  runId: string;
  key: string;
  pid: number;
  /** The engine's attempt number, as the body saw it. */
  attempt?: number;
  /** The process's wall clock when the body started (skewed processes included). */
  at?: number;
}

/** An append or send the fault wrapper refused before it reached the World. */
export interface FaultRecord {
  pid: number;
  method: 'create' | 'createBatch' | 'send';
  runId: string | null;
  correlationIds: string[];
  eventTypes: string[];
}

/**
 * A queue delivery whose lease the World reported lost while its handler still ran: the
 * delivery may have gone to another worker meanwhile, so a step body that ran under it may
 * run once more there. That is the at-least-once edge every lease has (a stalled process
 * cannot prove it is alive), so it is counted like a kill rather than as a defect.
 */
export interface LeaseLossRecord {
  pid: number;
  topic: string;
  runId: string | null;
  at?: number;
}

/** One queue delivery handled in a process: for diagnosis, not counted by any property. */
export interface DeliveryRecord {
  pid: number;
  topic: string;
  runId: string | null;
  attempt: number;
  start: number;
  end: number;
  outcome: string;
}

/** A hook payload the driver saw accepted. */
export interface AcceptedRecord {
  token: string;
  payload: string;
}

export type SideKind = 'executions' | 'faults' | 'accepted' | 'lease-losses' | 'deliveries';

export function appendRecord(directory: string, kind: SideKind, record: object): void {
  appendFileSync(join(directory, `${kind}-${process.pid}.jsonl`), `${JSON.stringify(record)}\n`);
}

/** Every complete line of every process's file of `kind` (a torn last line from a kill is skipped). */
export function readRecords<Record>(directory: string, kind: SideKind): Record[] {
  if (!existsSync(directory)) return [];
  const records: Record[] = [];
  for (const file of readdirSync(directory)) {
    if (!file.startsWith(`${kind}-`)) continue;
    for (const line of readFileSync(join(directory, file), 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        records.push(JSON.parse(line) as Record);
      } catch {
        // A line cut short by SIGKILL: the body it announced may or may not have started.
      }
    }
  }
  return records;
}
