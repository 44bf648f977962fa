import { mkdir, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError, WorldClosedError, WorldCorruptedError } from '@cairn/core/world';
import { DirectoryLock } from './directory-lock.js';
import { JournalFile, parseFramed, writeFramedAtomically } from './journal-file.js';
import { type JournalRecord, LocalState } from './local-state.js';

/** What an operation decided: its result, the records that make it durable, and what to do once they are. */
export interface Outcome<Result> {
  result: Result;
  records: JournalRecord[];
  afterCommit?: () => void;
}

interface PendingOperation {
  decide: () => Outcome<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export interface LocalStoreOptions {
  directory: string;
  worldName: string;
  /** Journal size that triggers a checkpoint (a compacted snapshot and a fresh journal). */
  checkpointBytes: number;
  idempotencyRetentionMs: number;
}

const snapshotName = (generation: number) => `snapshot-${generation}.cairn`;
const journalName = (generation: number) => `journal-${generation}.cairn`;
const generationOf = (file: string) => Number(/^(?:snapshot|journal)-(\d+)\.cairn$/.exec(file)?.[1] ?? Number.NaN);

/**
 * Owns the state, the journal and the single commit loop.
 *
 * Writers submit operations. The loop runs them in submission order, synchronously,
 * against the in-memory state (so each one sees every earlier one: fences and entity rules
 * are exact), appends their records as one group, fsyncs once, and only then settles
 * them: group commit, one fsync for everything submitted in the same turn.
 *
 * Readers call `settled()` first. While a group is being fsync'd the state holds effects
 * that are not durable yet; readers wait for that fsync, and the next group only starts on
 * a later macrotask, so a reader never observes a write that a crash could still undo.
 */
export class LocalStore {
  readonly state = new LocalState();
  private journal: JournalFile | undefined;
  private lock: DirectoryLock | undefined;
  private generation = 0;
  private pending: PendingOperation[] = [];
  private flushScheduled = false;
  private flushing: Promise<void> | undefined;
  private failure: unknown;
  private closed = false;
  /** Called after every durable group: queue dispatch and live stream readers hang off this. */
  readonly afterCommitListeners = new Set<() => void>();

  constructor(private readonly options: LocalStoreOptions) {}

  get isClosed(): boolean {
    return this.closed || this.failure !== undefined;
  }

  async open(): Promise<void> {
    const { directory, worldName } = this.options;
    await mkdir(directory, { recursive: true });
    this.lock = await DirectoryLock.acquire(directory, worldName);
    try {
      const files = await readdir(directory);
      const generations = files.map(generationOf).filter((value) => Number.isInteger(value));
      const snapshots = files.filter((file) => file.startsWith('snapshot-')).map(generationOf);
      this.generation = snapshots.length > 0 ? Math.max(...snapshots) : 0;
      if (snapshots.length > 0) {
        const path = join(directory, snapshotName(this.generation));
        const { groups, tornBytes } = parseFramed(await readFile(path), path);
        // Snapshots are renamed into place whole, so any damage is real damage.
        if (tornBytes > 0) throw new WorldCorruptedError({ location: path, detail: 'snapshot is incomplete' });
        this.replay(groups, path);
      }
      const { file, groups } = await JournalFile.open(join(directory, journalName(this.generation)));
      this.journal = file;
      this.replay(groups, file.path);
      // A crash mid-checkpoint can leave a temp snapshot that was never renamed into place.
      for (const file of files)
        if (file.startsWith('.snapshot-') && file.endsWith('.tmp')) await unlink(join(directory, file));
      // Earlier generations are fully contained in the snapshot we loaded.
      for (const generation of new Set(generations)) {
        if (generation >= this.generation) continue;
        await unlink(join(directory, snapshotName(generation))).catch(() => {});
        await unlink(join(directory, journalName(generation))).catch(() => {});
      }
    } catch (error) {
      await this.journal?.close().catch(() => {});
      await this.lock.release();
      throw error;
    }
  }

  private replay(groups: unknown[][], location: string): void {
    for (const group of groups) {
      for (const record of group) {
        try {
          this.state.replay(record as JournalRecord);
        } catch (error) {
          throw new WorldCorruptedError({
            location,
            detail: `a journalled record no longer applies (${CairnError.is(error) ? error.message : String(error)})`,
          });
        }
      }
    }
  }

  /** Queues an operation for the next group; resolves once its records are durable. */
  submit<Result>(decide: () => Outcome<Result>): Promise<Result> {
    if (this.isClosed) return Promise.reject(this.closedError());
    return new Promise<Result>((resolve, reject) => {
      this.pending.push({ decide, resolve: resolve as (value: unknown) => void, reject });
      if (!this.flushScheduled && !this.flushing) {
        this.flushScheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  /** Resolves when no group is mid-fsync, i.e. the state holds only durable effects. */
  async settled(): Promise<void> {
    if (this.isClosed) throw this.closedError();
    while (this.flushing) await this.flushing;
  }

  private closedError(): WorldClosedError {
    return new WorldClosedError({ world: this.options.worldName, cause: this.failure });
  }

  private async flush(): Promise<void> {
    this.flushScheduled = false;
    const group = this.pending.splice(0);
    if (group.length === 0 || !this.journal) return;
    let finished!: () => void;
    this.flushing = new Promise<void>((resolve) => (finished = resolve));
    const decided: { operation: PendingOperation; outcome?: Outcome<unknown>; error?: unknown }[] = [];
    const records: JournalRecord[] = [];
    for (const operation of group) {
      try {
        const outcome = operation.decide();
        records.push(...outcome.records);
        decided.push({ operation, outcome });
      } catch (error) {
        decided.push({ operation, error });
      }
    }
    try {
      if (records.length > 0) await this.journal.append(records);
    } catch (error) {
      // The state now holds effects the disk may not: nothing can be trusted any more, so
      // stop the World (as a database does on a failed fsync) rather than serve them.
      this.failure = error;
      this.flushing = undefined;
      finished();
      for (const { operation } of decided) operation.reject(this.closedError());
      for (const operation of this.pending.splice(0)) operation.reject(this.closedError());
      return;
    }
    if (this.journal.byteLength > this.options.checkpointBytes) await this.checkpoint().catch(() => {});
    this.flushing = undefined;
    finished();
    for (const { operation, outcome, error } of decided) {
      if (outcome) {
        outcome.afterCommit?.();
        operation.resolve(outcome.result);
      } else {
        operation.reject(error);
      }
    }
    for (const listener of this.afterCommitListeners) listener();
    if (this.pending.length > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      // A macrotask, not a microtask: readers woken above run first and see durable state.
      setImmediate(() => void this.flush());
    }
  }

  /**
   * Compacts: writes the whole state as a new snapshot (atomically), starts a fresh
   * journal, then drops the old generation. A crash at any point leaves either the old
   * snapshot+journal or the new snapshot (with an empty or absent journal): both complete.
   */
  private async checkpoint(): Promise<void> {
    const { directory, idempotencyRetentionMs } = this.options;
    this.state.pruneMessages(Date.now(), idempotencyRetentionMs);
    const next = this.generation + 1;
    await writeFramedAtomically(join(directory, snapshotName(next)), [...this.state.toRecords()]);
    const { file } = await JournalFile.open(join(directory, journalName(next)));
    const previous = this.journal;
    this.journal = file;
    const previousGeneration = this.generation;
    this.generation = next;
    await previous?.close();
    await unlink(join(directory, journalName(previousGeneration))).catch(() => {});
    await unlink(join(directory, snapshotName(previousGeneration))).catch(() => {});
  }

  /** Lets queued operations finish, then releases the journal and the directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing || this.pending.length > 0) {
      if (this.flushing) await this.flushing;
      else await this.flush();
    }
    this.closed = true;
    await this.journal?.close().catch(() => {});
    await this.lock?.release();
  }
}
