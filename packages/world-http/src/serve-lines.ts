import type { ServerResponse } from 'node:http';
import { errorToWire } from './error-mapping.js';

/** A `JSON.stringify` replacer, applied to every answer sent to a caller whose role calls for one. */
export type JsonReplacer = (key: string, value: unknown) => unknown;

/** An empty line this often keeps proxies and the client's body timeout from cutting a quiet read. */
const heartbeatMs = 15_000;

/**
 * Streams `lines` as newline-delimited JSON. An error becomes a final `{ error }` line, since
 * the status was sent with the first byte. Honours backpressure, so a slow reader holds no
 * more than a socket buffer of chunks in the server.
 */
export async function serveLines(
  response: ServerResponse,
  lines: AsyncIterable<unknown>,
  signal: AbortSignal,
  replacer?: JsonReplacer,
) {
  response.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' });
  response.flushHeaders();
  const heartbeat = setInterval(() => response.write('\n'), heartbeatMs);
  try {
    for await (const line of lines) {
      if (signal.aborted) break;
      if (!response.write(`${JSON.stringify(line, replacer)}\n`)) await drainedOrClosed(response);
    }
  } catch (error) {
    if (!signal.aborted) response.write(`${JSON.stringify({ error: errorToWire(error).body }, replacer)}\n`);
  } finally {
    clearInterval(heartbeat);
    response.end();
  }
}

/**
 * Waits until the response can take more, or has closed (an error closes it too). Both
 * listeners go as soon as either fires: racing two `once()` promises left the loser's
 * listeners on the response for its whole life, one more pair per full socket buffer.
 */
function drainedOrClosed(response: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (response.destroyed) return resolve();
    const done = () => {
      response.off('drain', done);
      response.off('close', done);
      resolve();
    };
    response.on('drain', done);
    response.on('close', done);
  });
}
