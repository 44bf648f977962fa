import { open, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { CairnError, WorldClosedError, WorldCorruptedError, WorldUnavailableError } from '@cairn/core/world';
import { parseFramed } from './journal-file.js';
import type { JournalRecord } from './local-records.js';
import { LocalState } from './local-state.js';

export interface ReadOnlyStoreOptions {
  directory: string;
  worldName: string;
  /** How often a reader that waits for something new (a watch, a live stream) looks at the journal. */
  pollIntervalMs: number;
}

const generationOf = (file: string) => Number(/^(?:snapshot|journal)-(\d+)\.cairn$/.exec(file)?.[1] ?? Number.NaN);
const snapshotPath = (directory: string, generation: number) => join(directory, `snapshot-${generation}.cairn`);
const journalPath = (directory: string, generation: number) => join(directory, `journal-${generation}.cairn`);
const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Follows a directory that another process may hold, without taking its lock and without
 * writing a byte. It rebuilds the state from the newest snapshot and journal, then tails the
 * journal: each read first applies the groups appended since the last one.
 *
 * What it may see of a live writer: only whole groups, and a group is appended only after
 * the previous one is durable, so it never sees a write the holder could still lose, except
 * that a group written but not yet fsync'd can be read (the holder has not acknowledged it;
 * it becomes durable or, after a crash, is cut off on the next open). A group still being
 * written fails its checksum and is simply read again next time; nothing is truncated here.
 * A checkpoint by the holder (a new snapshot generation) makes the next read rebuild from it.
 *
 * It exposes the members of `LocalStore` that the read paths of the views, event log and
 * streams use (`state`, `settled()`, `isClosed`, `isClosing`, `assertNotClosing()` and
 * `afterCommitListeners`), so those run on it unchanged.
 */
export class ReadOnlyStore {
  state = new LocalState();
  readonly afterCommitListeners = new Set<() => void>();
  private generation: number | undefined;
  private offset = 0;
  private closed = false;
  private refreshing: Promise<void> | undefined;
  private poller: NodeJS.Timeout | undefined;

  constructor(private readonly options: ReadOnlyStoreOptions) {}

  get isClosed(): boolean {
    return this.closed;
  }

  /** The same as `isClosed`: a reader has no writes to let finish, so closing is immediate. */
  get isClosing(): boolean {
    return this.closed;
  }

  /** Throws `WorldClosedError` once closed. */
  assertNotClosing(): void {
    if (this.closed) throw new WorldClosedError({ world: this.options.worldName });
  }

  /** Reads the directory; a directory that does not exist is `WorldUnavailableError`. */
  async open(): Promise<void> {
    const { directory, worldName, pollIntervalMs } = this.options;
    const found = await stat(directory).catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    if (!found?.isDirectory()) {
      throw new WorldUnavailableError({ world: worldName, location: directory, reason: 'no such directory' });
    }
    await this.refresh();
    // Watchers and live stream readers are woken by this poll, since no commit happens here.
    this.poller = setInterval(() => {
      if (this.afterCommitListeners.size === 0) return;
      this.refresh().catch(() => {});
    }, pollIntervalMs);
  }

  /** Applies whatever the holder has appended since the last read. */
  async settled(): Promise<void> {
    if (this.closed) throw new WorldClosedError({ world: this.options.worldName });
    await this.refresh();
  }

  /** Every write is refused: the directory belongs to the process holding its lock. */
  submit(): Promise<never> {
    const { worldName, directory } = this.options;
    return Promise.reject(
      new WorldUnavailableError({
        world: worldName,
        location: directory,
        reason: 'it was opened read-only; writes must go through the process that holds the directory',
      }),
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poller);
    // Wakes watchers and readers so they see the close and return.
    for (const listener of [...this.afterCommitListeners]) listener();
  }

  private refresh(): Promise<void> {
    this.refreshing ??= this.catchUp().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async catchUp(): Promise<void> {
    // A checkpoint can delete the files between listing and reading them: list again.
    for (let attempt = 0; ; attempt++) {
      try {
        const changed = await this.readNewGroups();
        if (changed) for (const listener of [...this.afterCommitListeners]) listener();
        return;
      } catch (error) {
        if (!isMissing(error) || attempt >= 5) throw error;
      }
    }
  }

  /** Returns true when the state changed. */
  private async readNewGroups(): Promise<boolean> {
    const { directory } = this.options;
    const snapshots = (await readdir(directory))
      .filter((file) => file.startsWith('snapshot-'))
      .map(generationOf)
      .filter((value) => Number.isInteger(value));
    const generation = snapshots.length > 0 ? Math.max(...snapshots) : 0;
    if (generation !== this.generation) {
      await this.rebuild(generation);
      return true;
    }
    const path = journalPath(directory, generation);
    const handle = await open(path, 'r').catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    if (!handle) return false;
    try {
      const { size } = await handle.stat();
      if (size === this.offset) return false;
      if (size < this.offset) {
        // The holder cut off a torn tail we had not applied (we never apply torn groups), or
        // replaced the journal: start over from the files as they are now.
        await this.rebuild(generation);
        return true;
      }
      const bytes = Buffer.alloc(size - this.offset);
      await handle.read(bytes, 0, bytes.length, this.offset);
      let parsed: ReturnType<typeof parseFramed>;
      try {
        parsed = parseFramed(bytes, path);
      } catch (error) {
        // A new holder cut off a torn tail and wrote past it, so our offset now falls inside
        // one of its groups: read the files whole, which judges real damage properly.
        if (!WorldCorruptedError.is(error)) throw error;
        await this.rebuild(generation);
        return true;
      }
      this.apply(this.state, parsed.groups, path);
      this.offset += parsed.validBytes;
      return parsed.groups.length > 0;
    } finally {
      await handle.close();
    }
  }

  private async rebuild(generation: number): Promise<void> {
    const { directory } = this.options;
    const state = new LocalState();
    if (generation > 0) {
      const path = snapshotPath(directory, generation);
      const { groups } = parseFramed(await readFile(path), path);
      this.apply(state, groups, path);
    }
    const path = journalPath(directory, generation);
    const bytes = await readFile(path).catch((error: unknown) => {
      if (isMissing(error)) return Buffer.alloc(0);
      throw error;
    });
    const { groups, validBytes } = parseFramed(bytes, path);
    this.apply(state, groups, path);
    this.state = state;
    this.generation = generation;
    this.offset = validBytes;
  }

  private apply(state: LocalState, groups: unknown[][], location: string): void {
    for (const group of groups) {
      for (const record of group) {
        try {
          state.replay(record as JournalRecord);
        } catch (error) {
          throw new WorldCorruptedError({
            location,
            detail: `a journalled record no longer applies (${CairnError.is(error) ? error.message : String(error)})`,
          });
        }
      }
    }
  }
}
