import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import { errorToWire } from './error-mapping.js';

/** An empty line this often keeps proxies and the client's body timeout from cutting a quiet read. */
const heartbeatMs = 15_000;

/**
 * Streams `lines` as newline-delimited JSON. An error becomes a final `{ error }` line, since
 * the status was sent with the first byte. Honours backpressure, so a slow reader holds no
 * more than a socket buffer of chunks in the server.
 */
export async function serveLines(response: ServerResponse, lines: AsyncIterable<unknown>, signal: AbortSignal) {
  response.writeHead(200, { 'content-type': 'application/x-ndjson; charset=utf-8', 'cache-control': 'no-store' });
  response.flushHeaders();
  const heartbeat = setInterval(() => response.write('\n'), heartbeatMs);
  try {
    for await (const line of lines) {
      if (signal.aborted) break;
      if (!response.write(`${JSON.stringify(line)}\n`))
        await Promise.race([once(response, 'drain'), once(response, 'close')]);
    }
  } catch (error) {
    if (!signal.aborted) response.write(`${JSON.stringify({ error: errorToWire(error).body })}\n`);
  } finally {
    clearInterval(heartbeat);
    response.end();
  }
}
