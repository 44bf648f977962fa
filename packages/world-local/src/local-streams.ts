import {
  type Clock,
  InvalidInputError,
  idSchema,
  isTerminalRunStatus,
  parseInput,
  type ReadStreamOptions,
  RunNotFoundError,
  readStreamOptionsSchema,
  type StreamChunk,
  StreamClosedError,
  type StreamInfo,
  streamChunkDataSchema,
  streamNameSchema,
  type WorldStreams,
} from '@cairn/core/world';
import { z } from 'zod';
import { chunkRecord, type JournalRecord } from './local-records.js';
import type { LocalStore } from './local-store.js';

const writeOptionsSchema = z.strictObject({ idempotencyKey: idSchema.optional() }).optional();

const copyChunk = (chunk: StreamChunk): StreamChunk => ({
  index: chunk.index,
  data: typeof chunk.data === 'string' ? chunk.data : new Uint8Array(chunk.data),
  createdAt: chunk.createdAt,
});

/**
 * Every write is one operation in the commit loop, which gives it the next index of its
 * stream: concurrent writers are serialised there, so a chunk is never split, lost or
 * interleaved. Live readers park on a per-stream waiter set and are woken after the
 * commit that made new chunks durable.
 */
export class LocalStreams implements WorldStreams {
  /** Live readers waiting for a change, by run and then by stream name. */
  private readonly waiters = new Map<string, Map<string, Set<() => void>>>();

  constructor(
    private readonly store: LocalStore,
    private readonly maxChunkBytes: number,
    private readonly clock: Clock,
  ) {}

  async write(
    runId: string,
    name: string,
    chunk: string | Uint8Array,
    options?: { idempotencyKey?: string },
  ): Promise<{ index: number }> {
    this.validate(runId, name);
    const { idempotencyKey } = parseInput(writeOptionsSchema, options, 'options') ?? {};
    const data = parseInput(streamChunkDataSchema, chunk, 'chunk');
    const bytes = typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength;
    if (bytes > this.maxChunkBytes) {
      throw new InvalidInputError({
        field: 'chunk',
        value: `${bytes} bytes`,
        reason: `must be at most ${this.maxChunkBytes} bytes`,
      });
    }
    // Copy now: the caller may reuse its buffer before the commit loop runs.
    const owned = typeof data === 'string' ? data : new Uint8Array(data);
    return this.store.submit(() => {
      const record = this.requireRun(runId);
      const stream = this.store.state.stream(runId, name);
      const earlier = idempotencyKey === undefined ? undefined : stream?.keys.get(idempotencyKey);
      if (earlier !== undefined) return { result: { index: earlier }, records: [] };
      // The append that ended the run closed its streams; a stream opened after that would
      // have nothing to close it, and its readers would wait forever.
      if (stream?.closed || isTerminalRunStatus(record.run.status))
        throw new StreamClosedError({ runId, stream: name });
      const written: StreamChunk = { index: stream?.chunks.length ?? 0, data: owned, createdAt: this.clock.now() };
      this.store.state.appendChunk(runId, name, written, idempotencyKey);
      return {
        result: { index: written.index },
        records: [chunkRecord(runId, name, written, idempotencyKey)],
        afterCommit: () => this.wake(runId, name),
      };
    });
  }

  async close(runId: string, name: string): Promise<void> {
    this.validate(runId, name);
    return this.store.submit(() => {
      this.requireRun(runId);
      if (this.store.state.stream(runId, name)?.closed) return { result: undefined, records: [] };
      return {
        result: undefined,
        records: this.closeInOperation(runId, [name], this.clock.now()),
        afterCommit: () => this.wake(runId, name),
      };
    });
  }

  /**
   * Closes every open stream of a run that an append is ending, inside that append's
   * operation: the records go in the append's journal group, so the streams are closed if,
   * and only if, the run's end is durable, and their readers wake once it is.
   */
  closeWithRun(runId: string, at: number): { records: JournalRecord[]; afterCommit: () => void } {
    const record = this.store.state.runs.get(runId);
    const open = record === undefined ? [] : [...record.streams.values()].filter((stream) => !stream.closed);
    return {
      records: this.closeInOperation(
        runId,
        open.map((stream) => stream.name),
        at,
      ),
      // Every reader of the run wakes: those of the streams closed here, and those waiting
      // for a stream the run never wrote, which it never will now.
      afterCommit: () => this.wakeRun(runId),
    };
  }

  /**
   * Closes the run's streams `names` in the store's state, from inside an operation, and
   * returns the records that journal the closes. The caller wakes the readers once they are
   * durable.
   */
  private closeInOperation(runId: string, names: readonly string[], at: number): JournalRecord[] {
    for (const name of names) this.store.state.closeStream(runId, name, at);
    return names.map((name) => ({ type: 'stream_closed', runId, stream: name, at }));
  }

  read(runId: string, name: string, options?: ReadStreamOptions): AsyncIterable<StreamChunk> {
    this.validate(runId, name);
    const { fromIndex = 0, signal } = parseInput(readStreamOptionsSchema, options, 'options') ?? {};
    return this.follow(runId, name, fromIndex, signal);
  }

  private async *follow(runId: string, name: string, fromIndex: number, signal: AbortSignal | undefined) {
    await this.store.settled();
    this.requireRun(runId);
    const startLength = this.store.state.stream(runId, name)?.chunks.length ?? 0;
    let next = fromIndex < 0 ? Math.max(0, startLength + fromIndex) : fromIndex;
    for (;;) {
      if (signal?.aborted || this.store.isClosing) return;
      await this.store.settled();
      const stream = this.store.state.stream(runId, name);
      if (stream && next < stream.chunks.length) {
        yield copyChunk(stream.chunks[next]!);
        next += 1;
        continue;
      }
      if (stream?.closed) return;
      // A run that has ended takes no more writes (see `write`): a stream it never had
      // never comes, and a reader waiting for it is done.
      if (!stream && isTerminalRunStatus(this.requireRun(runId).run.status)) return;
      await this.changed(runId, name, signal);
    }
  }

  /** Resolves at the next durable write or close on this stream, an abort, or World close. */
  private changed(runId: string, name: string, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.store.isClosing) {
        resolve();
        return;
      }
      const byName = this.waiters.get(runId) ?? new Map<string, Set<() => void>>();
      const set = byName.get(name) ?? new Set();
      const done = () => {
        set.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      set.add(done);
      byName.set(name, set);
      this.waiters.set(runId, byName);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  private wake(runId: string, name: string): void {
    const byName = this.waiters.get(runId);
    const set = byName?.get(name);
    if (!byName || !set) return;
    byName.delete(name);
    if (byName.size === 0) this.waiters.delete(runId);
    for (const waiter of set) waiter();
  }

  /** Wakes every reader of the run's streams, those it has and those it was waited on for. */
  private wakeRun(runId: string): void {
    const byName = this.waiters.get(runId);
    if (!byName) return;
    this.waiters.delete(runId);
    for (const set of byName.values()) for (const waiter of set) waiter();
  }

  /** Ends every live reader (used when the World closes). */
  wakeAll(): void {
    for (const runId of [...this.waiters.keys()]) this.wakeRun(runId);
  }

  async list(runId: string): Promise<StreamInfo[]> {
    parseInput(idSchema, runId, 'runId');
    await this.store.settled();
    const record = this.requireRun(runId);
    return [...record.streams.values()].map(({ name, chunks, closed, createdAt, updatedAt }) => ({
      name,
      chunkCount: chunks.length,
      closed,
      createdAt,
      updatedAt,
    }));
  }

  private validate(runId: string, name: string): void {
    parseInput(idSchema, runId, 'runId');
    parseInput(streamNameSchema, name, 'name');
  }

  private requireRun(runId: string) {
    const record = this.store.state.runs.get(runId);
    if (!record) throw new RunNotFoundError({ runId });
    return record;
  }
}
