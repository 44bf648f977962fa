import { randomUUID } from 'node:crypto';
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
  type StreamInfo,
  streamChunkDataSchema,
  streamNameSchema,
  WorldClosedError,
  type WorldStreams,
} from '@cairn/core/world';
import { z } from 'zod';
import { failureToError, type ScriptFailure } from './codec.js';
import { eventKey, statusInEventDetail, streamKey } from './keys.js';
import type { Notifications } from './notifications.js';
import { repeatWindowMs } from './scripts.js';
import type { Store } from './store.js';

const pageSize = 100;
const writeOptionsSchema = z.strictObject({ idempotencyKey: idSchema.optional() }).optional();

/*
 * A stream is a Redis list of chunks in its run's partition (`…:xc:<runId>:<name>`), with
 * its metadata in the run's stream hash and its name in the run's stream-order list. Names
 * go into keys as JSON text, so any name (even one with a lone surrogate) is one exact key.
 * A chunk entry is `createdAt|t<JSON text>` or `createdAt|b<base64>`.
 */
const nameKey = (name: string) => JSON.stringify(name);

function decodeChunk(index: number, entry: string): StreamChunk {
  const bar = entry.indexOf('|');
  const body = entry.slice(bar + 1);
  const data = body.startsWith('t')
    ? (JSON.parse(body.slice(1)) as string)
    : new Uint8Array(Buffer.from(body.slice(1), 'base64'));
  return { index, data, createdAt: Number(entry.slice(0, bar)) };
}

export class RedisStreams implements WorldStreams {
  constructor(
    private readonly store: Store,
    private readonly notifications: Notifications,
    private readonly maxChunkBytes: number,
    private readonly pollIntervalMs: number,
  ) {}

  async write(runId: string, name: string, chunk: string | Uint8Array, options?: { idempotencyKey?: string }) {
    this.store.assertOpen();
    this.validate(runId, name);
    const { idempotencyKey } = parseInput(writeOptionsSchema, options, 'options') ?? {};
    const data = parseInput(streamChunkDataSchema, chunk, 'chunk');
    const bytes = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.byteLength;
    if (bytes > this.maxChunkBytes) {
      throw new InvalidInputError({
        field: 'chunk',
        value: `${bytes} bytes`,
        reason: `must be at most ${this.maxChunkBytes} bytes`,
      });
    }
    const encoded = typeof data === 'string' ? `t${JSON.stringify(data)}` : `b${Buffer.from(data).toString('base64')}`;
    const reply = await this.call(runId, name, {
      chunk: encoded,
      ...(idempotencyKey === undefined ? {} : { idem: idempotencyKey }),
    });
    return { index: reply.index! };
  }

  async close(runId: string, name: string): Promise<void> {
    this.store.assertOpen();
    this.validate(runId, name);
    await this.call(runId, name, { close: true });
  }

  private async call(runId: string, name: string, fields: object): Promise<{ index: number | null }> {
    const base = this.store.keys.runBase(runId);
    const reply = await this.store.script<{ index: number | null; failure?: ScriptFailure }>(
      'stream-write',
      `${base}:x:${runId}`,
      // The id keeps a write repeated by the client (see repeat_find in scripts/lib.lua) to one chunk.
      {
        id: randomUUID(),
        window: repeatWindowMs,
        base,
        channel: this.store.keys.channel,
        runId,
        name: nameKey(name),
        ...fields,
      },
    );
    if (reply.failure) throw failureToError(runId, reply.failure, name);
    return reply;
  }

  read(runId: string, name: string, options?: ReadStreamOptions): AsyncIterable<StreamChunk> {
    this.validate(runId, name);
    const { fromIndex = 0, signal } = parseInput(readStreamOptionsSchema, options, 'options') ?? {};
    return this.follow(runId, name, fromIndex, signal);
  }

  private async *follow(runId: string, name: string, fromIndex: number, signal: AbortSignal | undefined) {
    this.store.assertNotClosing();
    const live = <Result>(call: Promise<Result>) => this.store.unlessClosing(call);
    const base = this.store.keys.runBase(runId);
    const keys = this.store.keys.run(base, runId);
    const chunksKey = keys.chunks(nameKey(name));
    let next: number;
    let client: Awaited<ReturnType<Store['client']>>;
    try {
      client = await live(this.store.client());
      if ((await live(client.exists(keys.run))) === 0) throw new RunNotFoundError({ runId });
      next = fromIndex < 0 ? Math.max(0, (await live(client.llen(chunksKey))) + fromIndex) : fromIndex;
    } catch (error) {
      if (WorldClosedError.is(error) || this.store.closing) return;
      throw error;
    }
    for (;;) {
      if (signal?.aborted || this.store.closing || this.store.closed) return;
      // Subscribe before reading, so a write between the read and the wait still wakes us.
      // The run's end too: it closes only the streams that exist, and a stream still missing
      // then will never come (the appends announce the run's status, keys.ts).
      const waiter = this.notifications.waiter(streamKey(runId));
      const runEnded = this.notifications.waiter(eventKey(runId), (detail) => {
        const status = statusInEventDetail(detail);
        return status !== undefined && isTerminalRunStatus(status as RunStatus);
      });
      let closed: boolean;
      let entries: string[];
      try {
        await live(this.notifications.ready());
        // The run's status before the stream's: a run that had ended before the stream was
        // looked up and found missing will never have it (writes stop at the run's end).
        const status = await live(client.hget(keys.run, 'status'));
        // The closed flag before the chunks: if it was set before they were read, they are all there.
        const meta = await live(client.hget(keys.streams, nameKey(name)));
        closed =
          meta === null
            ? status !== null && isTerminalRunStatus(JSON.parse(status) as RunStatus)
            : (JSON.parse(meta) as { closed: string }).closed === '1';
        entries = await live(client.lrange(chunksKey, next, next + pageSize - 1));
      } catch (error) {
        waiter.cancel();
        runEnded.cancel();
        if (WorldClosedError.is(error) || this.store.closing) return;
        throw error;
      }
      if (entries.length > 0 || closed) {
        waiter.cancel();
        runEnded.cancel();
      }
      if (entries.length > 0) {
        for (const entry of entries) {
          yield decodeChunk(next, entry);
          next += 1;
        }
        continue;
      }
      if (closed) return;
      // Either wakes the read; the other wait then ends with it.
      const either = new AbortController();
      const abort = () => either.abort();
      signal?.addEventListener('abort', abort, { once: true });
      await Promise.race([
        waiter.wait(this.pollIntervalMs * 4, either.signal),
        runEnded.wait(this.pollIntervalMs * 4, either.signal),
      ]);
      either.abort();
      signal?.removeEventListener('abort', abort);
    }
  }

  async list(runId: string): Promise<StreamInfo[]> {
    parseInput(idSchema, runId, 'runId');
    const client = await this.store.client();
    const keys = this.store.keys.run(this.store.keys.runBase(runId), runId);
    if ((await client.exists(keys.run)) === 0) throw new RunNotFoundError({ runId });
    const names = await client.lrange(keys.streamOrder, 0, -1);
    if (names.length === 0) return [];
    const metas = await client.hmget(keys.streams, ...names);
    const counts = await Promise.all(names.map((name) => client.llen(keys.chunks(name))));
    return names.map((name, index) => {
      const meta = JSON.parse(metas[index]!) as { createdAt: string; updatedAt: string; closed: string };
      return {
        name: JSON.parse(name) as string,
        chunkCount: counts[index]!,
        closed: meta.closed === '1',
        createdAt: Number(meta.createdAt),
        updatedAt: Number(meta.updatedAt),
      };
    });
  }

  private validate(runId: string, name: string): void {
    parseInput(idSchema, runId, 'runId');
    parseInput(streamNameSchema, name, 'name');
  }
}
