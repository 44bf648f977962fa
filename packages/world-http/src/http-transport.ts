import { setMaxListeners } from 'node:events';
import { CairnError, InvalidInputError, WorldClosedError, WorldUnavailableError } from '@cairn/core/world';
import { Pool } from 'undici';
import { CallChannel, type ChannelAnswer } from './call-channel.js';
import { type Answer, CallHandler } from './call-handler.js';
import { errorFromWire, unexpectedAnswer } from './error-mapping.js';

export interface TransportOptions {
  url: string;
  token: string;
  /** Most sockets the keep-alive pool opens to the server. Default: as many as there are requests in flight. */
  connections?: number;
  /**
   * Whether calls (appends, reads, sends, long-polls: everything but live reads and large
   * bodies) go on the server's call channel, a WebSocket that carries each as one frame each way, which
   * costs far less than a request. Calls go as requests while it is not open, and for good
   * where it cannot open (a proxy that passes no upgrades). Default true.
   */
  channel?: boolean;
}

/** The longest call body sent on the channel; a larger one goes as a request, whose limits and errors it meets there. */
const channelBodyLimit = 64 * 1024;

/**
 * The client's one connection pool to the server, and the only place that speaks HTTP.
 * Every call is one `POST /v1/<route>` with a JSON body; a typed error body becomes the same
 * error class the World behind the server threw. A failure to reach the server at all is a
 * `WorldUnavailableError` (retryable).
 */
export class HttpTransport {
  /** Set when the World closes: public calls are refused from then on. */
  closed = false;
  /** Aborts every long-poll and live read when the World closes. */
  readonly live = new AbortController();
  private readonly pool: Pool;
  private readonly basePath: string;
  /** The headers of every call, built once. */
  private readonly postHeaders: Record<string, string>;
  private readonly getHeaders: Record<string, string>;
  /** Where the server is, for error messages. */
  private readonly location: string;
  private readonly channel: CallChannel | undefined;

  constructor(
    options: TransportOptions,
    readonly worldName: string,
  ) {
    // Every live watch and read listens on this one signal; that many listeners is the design.
    setMaxListeners(0, this.live.signal);
    const base = new URL(options.url);
    this.basePath = base.pathname.replace(/\/+$/, '');
    this.location = `${base.origin}${this.basePath}`;
    const authorization = `Bearer ${options.token}`;
    this.getHeaders = { authorization };
    this.postHeaders = { authorization, 'content-type': 'application/json' };
    if (options.channel !== false) {
      const channelUrl = new URL(`${this.basePath}/v1/channel`, base);
      channelUrl.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
      this.channel = new CallChannel(channelUrl.toString(), authorization);
    }
    // Long-polls answer within 25 s and live reads send a heartbeat every 15 s, so a server
    // that stays silent for a minute is gone: the request fails and the caller reconnects.
    this.pool = new Pool(base.origin, {
      keepAliveTimeout: 4000,
      headersTimeout: 60_000,
      bodyTimeout: 60_000,
      ...(options.connections === undefined ? {} : { connections: options.connections }),
    });
  }

  /** Starts opening the call channel, so that the first calls after this may already use it. */
  openChannel(): void {
    this.channel?.ready();
  }

  /** Throws `WorldClosedError` once the World is closed. */
  assertOpen(): void {
    if (this.closed) throw new WorldClosedError({ world: this.worldName });
  }

  /**
   * One round trip. `internal` calls (acknowledging deliveries while the World closes) pass
   * a closed World; public ones do not.
   */
  async call<Result>(
    route: string,
    body: unknown,
    options: { signal?: AbortSignal; internal?: boolean; method?: 'GET' | 'POST' } = {},
  ): Promise<Result> {
    if (!options.internal) this.assertOpen();
    return this.callWith(route, options.method === 'GET' ? undefined : serialise(body), options);
  }

  /** `call` with the body already as JSON (none for a GET). */
  async callWith<Result>(
    route: string,
    payload: string | undefined,
    options: { signal?: AbortSignal; internal?: boolean } = {},
  ): Promise<Result> {
    if (!options.internal) this.assertOpen();
    if (payload !== undefined && payload.length <= channelBodyLimit && this.channel?.ready()) {
      let answer: ChannelAnswer;
      try {
        answer = await this.channel.call(route, payload, options.signal);
      } catch (error) {
        throw this.failure(error, options.signal);
      }
      return this.resultOf(answer.status, answer.body, () => 'application/json (call channel)');
    }
    let answer: Answer;
    try {
      answer = await new Promise((resolve, reject) => {
        const handler = new CallHandler(resolve, reject, options.signal);
        this.pool.dispatch(
          payload === undefined
            ? { path: `${this.basePath}/v1/${route}`, method: 'GET', headers: this.getHeaders }
            : { path: `${this.basePath}/v1/${route}`, method: 'POST', headers: this.postHeaders, body: payload },
          handler,
        );
      });
    } catch (error) {
      throw this.failure(error, options.signal);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.text);
    } catch {
      parsed = undefined;
    }
    return this.resultOf(answer.status, parsed, answer.contentType);
  }

  /** The result in a parsed answer, or the error it carries. */
  private resultOf<Result>(status: number, parsed: unknown, contentType: () => string | undefined): Result {
    if (status >= 400) throw errorFromWire(status, parsed, this.origin());
    // Every answer of the server is `{ result }`; anything else came from something in front of it.
    if (typeof parsed !== 'object' || parsed === null || !Object.hasOwn(parsed, 'result')) {
      throw unexpectedAnswer(status, contentType());
    }
    return (parsed as { result: Result }).result;
  }

  /** A `lines` route: yields each JSON line; an `{ error }` line is thrown as its error class. */
  async *lines(route: string, body: unknown, signal: AbortSignal): AsyncGenerator<Record<string, unknown>> {
    const response = await this.send(route, body, { signal });
    if (response.statusCode >= 400) {
      const text = await response.body.text().catch(() => '');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      throw errorFromWire(response.statusCode, parsed, this.origin());
    }
    const contentType = response.headers['content-type'];
    const shown = Array.isArray(contentType) ? contentType.join(', ') : contentType;
    // Not the server's line stream (a proxy's page, say): reconnecting would only fetch it again.
    if (!/^application\/x-ndjson\b/i.test(shown ?? '')) {
      response.body.destroy();
      throw unexpectedAnswer(response.statusCode, shown);
    }
    const decoder = new TextDecoder();
    let buffered = '';
    try {
      for await (const bytes of response.body) {
        buffered += decoder.decode(bytes as Uint8Array, { stream: true });
        let newline = buffered.indexOf('\n');
        while (newline >= 0) {
          const line = buffered.slice(0, newline);
          buffered = buffered.slice(newline + 1);
          if (line.length > 0) {
            const parsed = parseLine(line);
            if (parsed === undefined) throw unexpectedAnswer(response.statusCode, shown);
            if (parsed.error !== undefined) throw errorFromWire(500, parsed);
            yield parsed;
          }
          newline = buffered.indexOf('\n');
        }
      }
    } catch (error) {
      // A typed error line passes as it is; anything else means the connection broke.
      throw CairnError.is(error) ? error : this.failure(error, signal);
    } finally {
      response.body.destroy();
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.channel?.close(), this.pool.close()]);
  }

  private async send(route: string, body: unknown, options: { signal?: AbortSignal }) {
    const payload = serialise(body);
    try {
      return await this.pool.request({
        path: `${this.basePath}/v1/${route}`,
        method: 'POST',
        headers: this.postHeaders,
        body: payload,
        ...(options.signal ? { signal: options.signal } : {}),
      });
    } catch (error) {
      throw this.failure(error, options.signal);
    }
  }

  /** Who answered, for an error that did not come from the server itself. */
  private origin(): { world: string; location: string } {
    return { world: this.worldName, location: this.location };
  }

  /** A transport failure as a contract error: closed, or unavailable (retryable). Aborts pass through. */
  private failure(error: unknown, signal: AbortSignal | undefined): unknown {
    if (signal?.aborted) return error;
    if (this.closed) return new WorldClosedError({ world: this.worldName, cause: error });
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : 'the connection failed';
    return new WorldUnavailableError({ world: this.worldName, location: this.location, reason, cause: error });
  }
}

/** Waits `ms` unless `signal` aborts first. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** The next reconnect delay: quick at first, at most a second. */
export const nextDelay = (delay: number) => Math.min(1000, delay === 0 ? 25 : delay * 2);

/** A body as JSON, or an `InvalidInputError` when it cannot be one. */
export function serialise(body: unknown): string {
  try {
    return JSON.stringify(body);
  } catch (error) {
    throw new InvalidInputError({ field: 'arguments', value: body, reason: 'must be JSON-serialisable', cause: error });
  }
}

/** One line of a line stream as the object it should be, or undefined when it is not one. */
function parseLine(line: string): Record<string, unknown> | undefined {
  try {
    const parsed: unknown = JSON.parse(line);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)
      ? (parsed as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}
