import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { CairnError, type Clock, WorldClosedError, WorldCorruptedError } from '@cairn/core/world';
import { DirectoryLock } from './directory-lock.js';
import { fileSystem } from './file-system.js';
import { encodeRecord, JournalFile, syncDirectory, writeFramedFile } from './journal-file.js';
import { journalName, loadNewestGeneration, snapshotName } from './local-generations.js';
import type { JournalRecord } from './local-records.js';
import { LocalState } from './local-state.js';

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
  /**
   * Roughly the most bytes one journal group (or one snapshot frame) holds. A group takes
   * operations until it reaches this, so it exceeds it by at most one operation.
   */
  maxGroupBytes: number;
  /** Judges when an acknowledged message's idempotency key has expired. */
  clock: Clock;
}

/** After a failed checkpoint the next is not tried for this long, doubling up to a minute. */
const checkpointBackoff = { initialMs: 1000, maxMs: 60_000 };

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
  private closing = false;
  /** No checkpoint is tried before this instant (backoff after a failed one). */
  private nextCheckpointAt = 0;
  private checkpointFailures = 0;
  /** Size of the snapshot in force: the journal may grow to it before the next checkpoint. */
  private snapshotBytes = 0;
  /** Called after every durable group: queue dispatch and live stream readers hang off this. */
  readonly afterCommitListeners = new Set<() => void>();

  constructor(private readonly options: LocalStoreOptions) {}

  get isClosed(): boolean {
    return this.closed || this.failure !== undefined;
  }

  /** True from the moment `close()` begins: live waits end, but writes still go through. */
  get isClosing(): boolean {
    return this.closing || this.isClosed;
  }

  /** Ends live waits: everything parked on `afterCommitListeners` wakes and sees `isClosing`. */
  beginClosing(): void {
    this.closing = true;
    for (const listener of [...this.afterCommitListeners]) listener();
  }

  /** Throws `WorldClosedError` once closing has begun. */
  assertNotClosing(): void {
    if (this.isClosing) throw this.closedError();
  }

  async open(): Promise<void> {
    const { directory, worldName } = this.options;
    await fileSystem.mkdir(directory, { recursive: true });
    this.lock = await DirectoryLock.acquire(directory, worldName);
    try {
      const loaded = await loadNewestGeneration(directory, (groups, location) => this.replay(groups, location));
      this.generation = loaded.generation;
      this.snapshotBytes = loaded.snapshotBytes;
      this.journal = loaded.journal;
    } catch (error) {
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
    if (this.pending.length === 0 || !this.journal) return;
    let finished!: () => void;
    this.flushing = new Promise<void>((resolve) => (finished = resolve));
    const decided: { operation: PendingOperation; outcome?: Outcome<unknown>; error?: unknown }[] = [];
    const records: Buffer[] = [];
    let groupBytes = 0;
    // Take operations until the group holds maxGroupBytes; the rest wait for the next group.
    while (this.pending.length > 0 && groupBytes < this.options.maxGroupBytes) {
      const operation = this.pending.shift()!;
      try {
        const outcome = operation.decide();
        for (const record of outcome.records) {
          const encoded = encodeRecord(record);
          records.push(encoded);
          groupBytes += encoded.length;
        }
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
      this.stop(error, finished);
      for (const { operation } of decided) operation.reject(this.closedError());
      return;
    }
    // A checkpoint rewrites the whole state, so it waits until the journal is as large as
    // the last snapshot too: the bytes rewritten stay proportional to the bytes written.
    const checkpointAt = Math.max(this.options.checkpointBytes, this.snapshotBytes);
    if (this.journal.byteLength > checkpointAt && Date.now() >= this.nextCheckpointAt) {
      try {
        await this.checkpoint();
      } catch (error) {
        // The group itself is durable and stays confirmed; only later writes are refused.
        this.stop(error, finished);
        this.settleGroup(decided);
        return;
      }
    }
    this.flushing = undefined;
    finished();
    this.settleGroup(decided);
    if (this.pending.length > 0 && !this.flushScheduled) {
      this.flushScheduled = true;
      // A macrotask, not a microtask: readers woken above run first and see durable state.
      setImmediate(() => void this.flush());
    }
  }

  private settleGroup(decided: { operation: PendingOperation; outcome?: Outcome<unknown>; error?: unknown }[]): void {
    for (const { operation, outcome, error } of decided) {
      if (outcome) {
        outcome.afterCommit?.();
        operation.resolve(outcome.result);
      } else {
        operation.reject(error);
      }
    }
    for (const listener of this.afterCommitListeners) listener();
  }

  /** Fails the World for good: every later call gets `WorldClosedError` carrying `error`. */
  private stop(error: unknown, finished: () => void): void {
    this.failure = error;
    this.flushing = undefined;
    finished();
    for (const operation of this.pending.splice(0)) operation.reject(this.closedError());
    for (const listener of this.afterCommitListeners) listener();
  }

  /**
   * Compacts: the whole state becomes a new snapshot and writes move to a fresh journal.
   * The steps are ordered so that the new snapshot becomes visible only once its (empty,
   * durable) journal exists, and writes move to that journal at the instant the snapshot
   * is renamed into place:
   *
   * 1. create journal N+1 (empty, fsync'd with its directory);
   * 2. write the snapshot to a temp file, a frame at a time, and fsync it;
   * 3. rename it to snapshot-(N+1), fsync the directory;
   * 4. switch writes to journal N+1, then drop generation N.
   *
   * A failure before the rename leaves generation N in charge and everything it wrote
   * valid: the new files are deleted and the checkpoint is retried later, with backoff.
   * A failure after the rename (the directory fsync) cannot tell whether the rename is
   * durable, so it is fatal: the World stops rather than confirm writes that a reopen
   * might not find. Only step 4's cleanup may fail quietly (an open deletes what is left).
   */
  private async checkpoint(): Promise<void> {
    const { directory, idempotencyRetentionMs, maxGroupBytes } = this.options;
    this.state.pruneMessages(this.options.clock.now(), idempotencyRetentionMs);
    const next = this.generation + 1;
    const snapshotPath = join(directory, snapshotName(next));
    const journalPath = join(directory, journalName(next));
    const temporary = join(directory, `.${snapshotName(next)}.${randomBytes(6).toString('hex')}.tmp`);
    let nextJournal: JournalFile | undefined;
    let snapshotBytes = 0;
    try {
      nextJournal = (await JournalFile.open(journalPath)).file;
      snapshotBytes = await writeFramedFile(temporary, this.state.toRecords(), maxGroupBytes);
      await fileSystem.rename(temporary, snapshotPath);
    } catch {
      await nextJournal?.close().catch(() => {});
      await fileSystem.unlink(temporary).catch(() => {});
      await fileSystem.unlink(journalPath).catch(() => {});
      this.checkpointFailures += 1;
      const { initialMs, maxMs } = checkpointBackoff;
      this.nextCheckpointAt = Date.now() + Math.min(maxMs, initialMs * 2 ** (this.checkpointFailures - 1));
      return;
    }
    this.checkpointFailures = 0;
    this.nextCheckpointAt = 0;
    this.snapshotBytes = snapshotBytes;
    const previous = this.journal;
    const previousGeneration = this.generation;
    this.journal = nextJournal;
    this.generation = next;
    await previous?.close().catch(() => {});
    // Not caught: see above, a rename that may not be durable stops the World.
    await syncDirectory(directory);
    await fileSystem.unlink(join(directory, journalName(previousGeneration))).catch(() => {});
    await fileSystem.unlink(join(directory, snapshotName(previousGeneration))).catch(() => {});
  }

  /** Lets queued operations finish, then releases the journal and the directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    while (this.flushing || this.pending.length > 0) {
      if (this.flushing) await this.flushing;
      else await this.flush();
    }
    this.closed = true;
    this.closing = true;
    await this.journal?.close().catch(() => {});
    await this.lock?.release();
  }
}
