import type { IncomingMessage } from 'node:http';
import { InvalidInputError } from '@cairn/core/world';
import { ClientGoneError } from './errors/client-gone-error.js';
import { PayloadTooLargeError } from './errors/payload-too-large-error.js';
import { ProtocolError } from './errors/protocol-error.js';

/**
 * Reads a request body of at most `maxBytes` within `timeoutMs`. A declared length over the
 * limit is refused before a byte is read; a body that grows past it is refused as soon as it
 * does, so an oversized upload never sits in memory whole. A sender that stalls gets a typed
 * 408 instead of holding the request open.
 *
 * A short body usually arrives in the same read as the headers, and Node has parsed and
 * buffered all of it by the time the handler's first microtask runs: it is then taken at
 * once, with no listeners, timer or stream events (a measurable share of a short request's
 * cost). Any other body is read as it arrives.
 */
export async function readBody(request: IncomingMessage, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  const declared = request.headers['content-length'];
  if (declared !== undefined && Number(declared) > maxBytes) {
    throw new PayloadTooLargeError({ limitBytes: maxBytes });
  }
  await undefined;
  // The parser hands over no more than the declared length: that much buffered is all of it.
  if (declared !== undefined && request.readableLength === Number(declared) && !request.readableFlowing) {
    const chunks: Buffer[] = [];
    let size = 0;
    for (let chunk: Buffer | null = request.read(); chunk !== null; chunk = request.read()) {
      chunks.push(chunk);
      size += chunk.length;
    }
    taken.add(request);
    return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size);
  }
  return readArriving(request, maxBytes, timeoutMs);
}

/** Requests whose body was taken whole before the stream reported its end. */
const taken = new WeakSet<IncomingMessage>();

/** Whether the request's body was read to its end, so the connection can serve another request. */
export function bodyWasRead(request: IncomingMessage): boolean {
  return request.readableEnded || taken.has(request);
}

function readArriving(request: IncomingMessage, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const finish = (error: Error | undefined) => {
      clearTimeout(timer);
      request.off('data', onData);
      request.off('end', onEnd);
      request.off('error', onError);
      request.off('aborted', onAborted);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        request.pause();
        finish(new PayloadTooLargeError({ limitBytes: maxBytes }));
      } else chunks.push(chunk);
    };
    const onEnd = () => finish(undefined);
    // The request stream fails only when its connection does.
    const onError = (error: Error) => finish(new ClientGoneError({ cause: error }));
    const onAborted = () => finish(new ClientGoneError());
    const timer = setTimeout(
      () =>
        finish(
          new ProtocolError({
            code: 'REQUEST_TIMEOUT',
            message: `The request body did not arrive within ${timeoutMs} ms`,
          }),
        ),
      timeoutMs,
    );
    request.on('data', onData);
    request.on('end', onEnd);
    request.on('error', onError);
    request.on('aborted', onAborted);
  });
}

/**
 * The deepest nesting of arrays and objects a body may have. The World validates a value by
 * walking it recursively, so a body nested some thousands deep (a few kilobytes of brackets)
 * would exhaust the stack there and fail as a server fault; real data is nowhere near this.
 */
export const maxBodyDepth = 512;

/** The body as JSON, or an `InvalidInputError` naming `body`. */
export function parseJsonBody(body: Buffer): unknown {
  let value: unknown;
  try {
    value = JSON.parse(strictUtf8.decode(body));
  } catch {
    throw new InvalidInputError({ field: 'body', value: `${body.length} bytes`, reason: 'is not valid UTF-8 JSON' });
  }
  // Nesting deeper than the limit needs more opening brackets than that: short bodies are never counted.
  if (body.length > maxBodyDepth && nestingDepth(body) > maxBodyDepth) {
    throw new InvalidInputError({
      field: 'body',
      value: `${body.length} bytes`,
      reason: `nests arrays and objects deeper than ${maxBodyDepth} levels`,
    });
  }
  return value;
}

const quote = 0x22;
const backslash = 0x5c;
const openBracket = 0x5b;
const openBrace = 0x7b;
const closeBracket = 0x5d;
const closeBrace = 0x7d;

/**
 * The deepest bracket nesting of a body already known to be valid JSON, counted on its bytes
 * without recursion. Brackets inside strings do not count; no byte of a multi-byte UTF-8
 * character can be mistaken for a quote, a backslash or a bracket.
 */
function nestingDepth(body: Buffer): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let index = 0; index < body.length; index++) {
    const byte = body[index]!;
    if (inString) {
      if (byte === backslash) index++;
      else if (byte === quote) inString = false;
    } else if (byte === quote) inString = true;
    else if (byte === openBracket || byte === openBrace) {
      depth++;
      if (depth > deepest) deepest = depth;
    } else if (byte === closeBracket || byte === closeBrace) depth--;
  }
  return deepest;
}

// Invalid UTF-8 is refused rather than silently replaced, which would change the data.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
