import {
  idSchema,
  parseInput,
  type ReadStreamOptions,
  readStreamOptionsSchema,
  type StreamChunk,
  type StreamInfo,
  streamChunkDataSchema,
  type WorldStreams,
  WorldUnavailableError,
} from '@cairn/core/world';
import { z } from 'zod';
import { type HttpTransport, nextDelay, pause } from './http-transport.js';
import { decodeChunkData, encodeChunkData, type WireChunk } from './wire.js';

const writeOptionsSchema = z.strictObject({ idempotencyKey: idSchema.optional() }).optional();

/** Streams over HTTP. A live read is one streaming response that resumes after its last chunk if the connection drops. */
export class HttpStreams implements WorldStreams {
  constructor(private readonly transport: HttpTransport) {}

  async write(runId: string, name: string, chunk: string | Uint8Array, options?: { idempotencyKey?: string }) {
    this.transport.assertOpen();
    parseInput(writeOptionsSchema, options, 'options');
    const data = parseInput(streamChunkDataSchema, chunk, 'chunk');
    return this.transport.call<{ index: number }>('streams.write', {
      runId,
      name,
      chunk: encodeChunkData(data),
      options,
    });
  }

  async close(runId: string, name: string): Promise<void> {
    await this.transport.call('streams.close', { runId, name });
  }

  list(runId: string): Promise<StreamInfo[]> {
    return this.transport.call('streams.list', { runId });
  }

  async *read(runId: string, name: string, options?: ReadStreamOptions): AsyncIterable<StreamChunk> {
    this.transport.assertOpen();
    const { fromIndex, signal } = parseInput(readStreamOptionsSchema, options, 'options') ?? {};
    const stop = new AbortController();
    const stopAll = signal
      ? AbortSignal.any([signal, this.transport.live.signal, stop.signal])
      : AbortSignal.any([this.transport.live.signal, stop.signal]);
    let next = fromIndex;
    let delay = 0;
    try {
      for (;;) {
        try {
          if (next !== undefined && next < 0) next = await this.tailIndex(runId, name, next, stopAll);
          const body = { runId, name, ...(next === undefined ? {} : { fromIndex: next }) };
          for await (const line of this.transport.lines('streams.read', body, stopAll)) {
            delay = 0;
            if (line.end === true) return;
            const wire = line.chunk as WireChunk;
            next = wire.index + 1;
            yield { index: wire.index, createdAt: wire.createdAt, data: decodeChunkData(wire.data, 'chunk.data') };
          }
        } catch (error) {
          if (stopAll.aborted) return;
          if (!WorldUnavailableError.is(error)) throw error;
        }
        // The connection ended without the stream's end: reconnect after the last chunk seen.
        if (stopAll.aborted) return;
        delay = nextDelay(delay);
        await pause(delay, stopAll);
        if (stopAll.aborted) return;
      }
    } finally {
      stop.abort();
    }
  }

  /**
   * A negative `fromIndex` as the index it stands for now. It counts back from the tail when
   * the read starts; sent as it is, a reconnect would count back from a later tail and skip
   * what was written in between.
   */
  private async tailIndex(runId: string, name: string, fromIndex: number, signal: AbortSignal): Promise<number> {
    const streams = await this.transport.call<StreamInfo[]>('streams.list', { runId }, { signal });
    const chunkCount = streams.find((stream) => stream.name === name)?.chunkCount ?? 0;
    return Math.max(0, chunkCount + fromIndex);
  }
}
