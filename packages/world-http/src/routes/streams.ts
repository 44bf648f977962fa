import type { StreamChunk } from '@cairn/core/world';
import { bodyFields, decodeChunkData, encodeChunk } from '../wire.js';
import { json, type Route } from './route.js';

export const streamRoutes: Record<string, Route> = {
  'streams.write': json('worker', (body, { world }) => {
    const { runId, name, chunk, options } = bodyFields(body, ['runId', 'name', 'chunk', 'options']);
    return world.streams.write(runId as never, name as never, decodeChunkData(chunk, 'body.chunk'), options as never);
  }),
  'streams.close': json('worker', async (body, { world }) => {
    const { runId, name } = bodyFields(body, ['runId', 'name']);
    await world.streams.close(runId as never, name as never);
    return null;
  }),
  'streams.list': json('read', (body, { world }) => world.streams.list(bodyFields(body, ['runId']).runId as never)),
  /**
   * A live read as newline-delimited JSON: `{ chunk }` lines as chunks arrive, then `{ end: true }`
   * when the stream closes. Bad arguments are refused here, before the status line goes out,
   * so they answer 400 like any other route; an error the World reports only once the read
   * has started (a missing run) arrives as an `{ error }` line. Ends when the client disconnects.
   */
  'streams.read': {
    role: 'read',
    kind: 'lines',
    handle(body, { world, signal }) {
      const { runId, name, fromIndex } = bodyFields(body, ['runId', 'name', 'fromIndex']);
      const options = fromIndex === undefined ? { signal } : { fromIndex: fromIndex as never, signal };
      return chunkLines(world.streams.read(runId as never, name as never, options), signal);
    },
  },
};

async function* chunkLines(chunks: AsyncIterable<StreamChunk>, signal: AbortSignal): AsyncIterable<unknown> {
  for await (const chunk of chunks) yield { chunk: encodeChunk(chunk) };
  if (!signal.aborted) yield { end: true };
}
