import {
  InvalidInputError,
  idSchema,
  isTerminalRunStatus,
  parseInput,
  type ReadStreamOptions,
  RunNotFoundError,
  type RunStatus,
  readStreamOptionsSchema,
  type StreamChunk,
  StreamClosedError,
  type StreamInfo,
  streamChunkDataSchema,
  streamNameSchema,
  WorldClosedError,
  type WorldStreams,
} from '@cairn/core/world';
import { z } from 'zod';
import { type Database, errorCode, isUniqueViolation, toMs } from './database.js';
import { eventKey, firstWake, type Notifications, streamKey } from './notifications.js';
import { parseTail } from './run-tails.js';

const pageSize = 100;
const writeOptionsSchema = z.strictObject({ idempotencyKey: idSchema.optional() }).optional();

interface ChunkRow {
  /** The run's status. */
  status: RunStatus;
  /** Whose appends of the run go unannounced (see Database.markWatchedSql). */
  watcher: string | null;
  /** Null (as is `chunk_count`) while the stream does not exist. */
  closed: boolean | null;
  chunk_count: number;
  chunk_index: number | null;
  is_text: boolean;
  data: Buffer;
  created_at: string;
}

/**
 * Chunks live in stream_chunks keyed (run_id, name, chunk_index). A write is one statement
 * that bumps the stream row's chunk_count (an upsert, so concurrent writers queue on that
 * row's lock) and inserts the chunk at the index it got. Index allocation is therefore
 * race-free and dense, and since each writer holds the row until it commits, chunks become
 * visible in index order: a reader never sees chunk n+1 without chunk n.
 *
 * A run's streams close with the append that ends it, so a write first takes a share lock
 * on the run's row, and writes only while the run has not ended. The append that ends the
 * run holds that row's lock from its start, so either the write commits first (and the
 * append's closing sees its stream) or it waits for the append and finds the run ended: no
 * stream can open after its run's end, where nothing would close it.
 */
export class PostgresStreams implements WorldStreams {
  constructor(
    private readonly db: Database,
    private readonly notifications: Notifications,
    private readonly maxChunkBytes: number,
    private readonly pollIntervalMs: number,
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
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data);
    if (bytes.byteLength > this.maxChunkBytes) {
      throw new InvalidInputError({
        field: 'chunk',
        value: `${bytes.byteLength} bytes`,
        reason: `must be at most ${this.maxChunkBytes} bytes`,
      });
    }
    if (idempotencyKey !== undefined) {
      const earlier = await this.indexOfKey(runId, name, idempotencyKey);
      if (earlier !== undefined) return { index: earlier };
    }
    const { runs, streams, chunks, nowMs } = this.db.tables;
    let rows: { chunk_index: number }[];
    try {
      rows = await this.runQuery<{ chunk_index: number }>(
        runId,
        `WITH clock AS (SELECT ${nowMs} AS now),
         live AS (
           SELECT 1 FROM ${runs}
           WHERE run_id = $1 AND status NOT IN ('completed', 'failed', 'cancelled')
           FOR SHARE
         ),
         stream AS (
           INSERT INTO ${streams} AS s (run_id, name, chunk_count, closed, created_at, updated_at)
           SELECT $1, $2, 1, false, now, now FROM clock, live
           ON CONFLICT (run_id, name) DO UPDATE SET chunk_count = s.chunk_count + 1, updated_at = EXCLUDED.updated_at
           WHERE NOT s.closed
           RETURNING s.chunk_count - 1 AS chunk_index, s.updated_at
         ), chunk AS (
           INSERT INTO ${chunks} (run_id, name, chunk_index, is_text, data, created_at, idempotency_key)
           SELECT $1, $2, chunk_index, $3, $4, updated_at, $7 FROM stream
         )
         SELECT chunk_index, pg_notify($5, $6) FROM stream`,
        [runId, name, typeof data === 'string', bytes, this.db.channel, streamKey(runId, name), idempotencyKey ?? null],
      );
    } catch (error) {
      // A repeat raced us past the check above and committed first: the unique index
      // refused our copy, and the whole statement (count included) rolled back.
      if (idempotencyKey === undefined || !isUniqueViolation(error, 'stream_chunks_idempotency')) throw error;
      return { index: (await this.indexOfKey(runId, name, idempotencyKey))! };
    }
    if (rows.length > 0) return { index: rows[0]!.chunk_index };
    // Closed, or its run ended or does not exist. A repeat of a write that landed before
    // the close still gets its index.
    const earlier = idempotencyKey === undefined ? undefined : await this.indexOfKey(runId, name, idempotencyKey);
    if (earlier !== undefined) return { index: earlier };
    const run = await this.db.query(`SELECT 1 FROM ${runs} WHERE run_id = $1`, [runId]);
    if (run.length === 0) throw new RunNotFoundError({ runId });
    throw new StreamClosedError({ runId, stream: name });
  }

  private async indexOfKey(runId: string, name: string, key: string): Promise<number | undefined> {
    const rows = await this.db.query<{ chunk_index: number }>(
      `SELECT chunk_index FROM ${this.db.tables.chunks} WHERE run_id = $1 AND name = $2 AND idempotency_key = $3`,
      [runId, name, key],
    );
    return rows[0]?.chunk_index;
  }

  async close(runId: string, name: string): Promise<void> {
    this.validate(runId, name);
    const { streams, nowMs } = this.db.tables;
    await this.runQuery(
      runId,
      `WITH clock AS (SELECT ${nowMs} AS now),
       closed AS (
         INSERT INTO ${streams} AS s (run_id, name, chunk_count, closed, created_at, updated_at)
         SELECT $1, $2, 0, true, now, now FROM clock
         ON CONFLICT (run_id, name) DO UPDATE SET closed = true, updated_at = EXCLUDED.updated_at
         WHERE NOT s.closed
         RETURNING 1
       )
       SELECT pg_notify($3, $4) FROM closed`,
      [runId, name, this.db.channel, streamKey(runId, name)],
    );
  }

  /** The stream row's foreign key turns "no such run" into a violation, raised atomically with the write. */
  private async runQuery<Row extends object>(runId: string, text: string, values: unknown[]): Promise<Row[]> {
    try {
      return await this.db.query<Row>(text, values);
    } catch (error) {
      if (errorCode(error) === '23503') throw new RunNotFoundError({ runId });
      throw error;
    }
  }

  read(runId: string, name: string, options?: ReadStreamOptions): AsyncIterable<StreamChunk> {
    this.validate(runId, name);
    const { fromIndex = 0, signal } = parseInput(readStreamOptionsSchema, options, 'options') ?? {};
    return this.follow(runId, name, fromIndex, signal);
  }

  private async *follow(runId: string, name: string, fromIndex: number, signal: AbortSignal | undefined) {
    const { runs, streams, chunks } = this.db.tables;
    const [start] = await this.db.query<{ chunk_count: number | null }>(
      `SELECT (SELECT chunk_count FROM ${streams} WHERE run_id = $1 AND name = $2) AS chunk_count
       FROM ${runs} WHERE run_id = $1`,
      [runId, name],
    );
    if (!start) throw new RunNotFoundError({ runId });
    let next = fromIndex < 0 ? Math.max(0, (start.chunk_count ?? 0) + fromIndex) : fromIndex;
    // Marked once per read at most: should the mark not hold, the poll still ends the wait.
    let marked = false;
    for (;;) {
      if (signal?.aborted || this.db.closing) return;
      // Subscribe before reading, so a write between the read and the wait still wakes us.
      // The run's end wakes the reader too: a run may end without ever writing the stream,
      // and the append that ends it notifies only the streams it closes.
      const waiters = [
        this.notifications.waiter(streamKey(runId, name)),
        this.notifications.waiter(eventKey(runId), announcesEnd),
      ];
      const cancel = () => {
        for (const waiter of waiters) waiter.cancel();
      };
      let rows: ChunkRow[];
      try {
        await this.notifications.ready();
        // The run's status comes in the same snapshot as the stream: a run seen ended with
        // no such stream will never have it (writes stop at the run's end).
        rows = await this.db.query<ChunkRow>(
          `SELECT r.status, r.watcher, s.closed, s.chunk_count, c.chunk_index, c.is_text, c.data, c.created_at
           FROM ${runs} r
           LEFT JOIN ${streams} s ON s.run_id = r.run_id AND s.name = $2
           LEFT JOIN LATERAL (
             SELECT chunk_index, is_text, data, created_at FROM ${chunks}
             WHERE run_id = s.run_id AND name = s.name AND chunk_index >= $3
             ORDER BY chunk_index LIMIT ${pageSize}
           ) c ON true
           WHERE r.run_id = $1`,
          [runId, name, next],
        );
      } catch (error) {
        cancel();
        if (WorldClosedError.is(error)) return; // a World closing ends live reads
        throw error;
      }
      const found = rows.filter((row) => row.chunk_index !== null);
      if (found.length > 0) {
        cancel();
        for (const row of found) {
          yield {
            index: row.chunk_index!,
            data: row.is_text ? row.data.toString('utf8') : new Uint8Array(row.data),
            createdAt: toMs(row.created_at),
          };
          next = row.chunk_index! + 1;
        }
        continue;
      }
      const [first] = rows;
      // Closed and read to its end, or missing from a run that has ended.
      if (
        first &&
        (first.closed ? next >= first.chunk_count : first.closed === null && isTerminalRunStatus(first.status))
      ) {
        cancel();
        return;
      }
      if (!marked && first?.closed === null && this.db.needsWatchedMark(first.watcher)) {
        // Another World's appends of the run go unannounced (Database.markWatchedSql). Look
        // again once they do not: an append that commits after the mark notifies, and one
        // that committed before it is in the next look.
        cancel();
        await this.db.query(this.db.markWatchedSql(), [runId, this.db.watcherId]);
        marked = true;
        continue;
      }
      await firstWake(waiters, this.pollIntervalMs * 4, signal);
    }
  }

  async list(runId: string): Promise<StreamInfo[]> {
    parseInput(idSchema, runId, 'runId');
    const rows = await this.db.query<{
      name: string | null;
      chunk_count: number;
      closed: boolean;
      created_at: string;
      updated_at: string;
    }>(
      `SELECT s.name, s.chunk_count, s.closed, s.created_at, s.updated_at
       FROM ${this.db.tables.runs} r LEFT JOIN ${this.db.tables.streams} s ON s.run_id = r.run_id
       WHERE r.run_id = $1 ORDER BY s.created_order`,
      [runId],
    );
    if (rows.length === 0) throw new RunNotFoundError({ runId });
    return rows.flatMap((row) =>
      row.name === null
        ? []
        : [
            {
              name: row.name,
              chunkCount: row.chunk_count,
              closed: row.closed,
              createdAt: toMs(row.created_at),
              updatedAt: toMs(row.updated_at),
            },
          ],
    );
  }

  private validate(runId: string, name: string): void {
    parseInput(idSchema, runId, 'runId');
    parseInput(streamNameSchema, name, 'name');
  }
}

/** An append's notification that ends its run (or one without a tail, which may). */
function announcesEnd(detail: string): boolean {
  const tail = parseTail(detail);
  return tail === undefined || isTerminalRunStatus(tail.status);
}
