import { WebSocket } from 'undici';

/** One answer on the channel, as the HTTP route would have answered: a status and its body. */
export interface ChannelAnswer {
  status: number;
  body: unknown;
}

/**
 * How long a call may wait for its answer before the channel is taken for dead, as a
 * request's headers may. Long-polls answer within the server's `longPollMs` (25 s by default).
 */
const answerTimeoutMs = 60_000;
/** After a channel could not open (an older server, a proxy that passes no upgrades, a refused token): calls go as requests, and opening is tried again after this, doubling up to a minute. */
const firstRetryMs = 1000;
const lastRetryMs = 60_000;
/** Calls waiting on the channel past which more go as requests: far below the server's limit per channel. */
const maxWaiting = 8192;

interface Waiting {
  socket: WebSocket;
  sentAt: number;
  settle(answer: ChannelAnswer | Error): void;
}

/**
 * The client's side of the call channel (see the server's `ChannelServer`): one WebSocket to
 * the server that carries short calls as one frame each way. It opens on first use and, while
 * it is not open, calls go as ordinary requests, so nothing ever waits for it. A call whose
 * channel closes before its answer fails, as a request whose connection drops does: the
 * caller gets `WorldUnavailableError` from the transport and may retry.
 */
export class CallChannel {
  private socket: WebSocket | undefined;
  private opening: WebSocket | undefined;
  private retryAt = 0;
  private retryMs = firstRetryMs;
  private lastId = 0;
  private closed = false;
  private readonly waiting = new Map<number, Waiting>();
  private watchdog: NodeJS.Timeout | undefined;
  /** Resolves `close()` once the last waiting call is settled. */
  private drained: (() => void) | undefined;

  constructor(
    private readonly url: string,
    private readonly authorization: string,
  ) {}

  /** Whether a call can go on the channel now. When it cannot, this starts opening it, unless that failed lately. */
  ready(): boolean {
    if (this.closed) return false;
    if (this.socket?.readyState === WebSocket.OPEN) return this.waiting.size < maxWaiting;
    if (this.opening === undefined && Date.now() >= this.retryAt) this.open();
    return false;
  }

  /**
   * Sends one call; `body` is the call's JSON, as a request would carry it. Only after
   * `ready()`. When `signal` aborts first, the call rejects with its reason at once and the
   * server is told to stop waiting on it.
   */
  call(route: string, body: string, signal?: AbortSignal): Promise<ChannelAnswer> {
    const socket = this.socket as WebSocket;
    const id = ++this.lastId;
    return new Promise((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        if (!this.forget(id)) return;
        if (socket.readyState === WebSocket.OPEN) socket.send(`{"id":${id},"cancel":true}`);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.set(id, {
        socket,
        sentAt: Date.now(),
        settle: (answer) => {
          signal?.removeEventListener('abort', onAbort);
          if (answer instanceof Error) reject(answer);
          else resolve(answer);
        },
      });
      socket.send(`{"id":${id},"route":${JSON.stringify(route)},"body":${body}}`);
    });
  }

  /**
   * Closes the channel for good once the calls on it are answered, as a connection pool
   * closes after its requests. Calls whose channel drops meanwhile fail as usual.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.waiting.size > 0) await new Promise<void>((resolve) => (this.drained = resolve));
    clearInterval(this.watchdog);
    for (const socket of [this.socket, this.opening]) socket?.close(1000);
  }

  private open(): void {
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.url, { headers: { authorization: this.authorization } });
    } catch {
      // A url undici will not open a WebSocket to: requests only.
      this.retryAt = Number.POSITIVE_INFINITY;
      return;
    }
    this.opening = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.opening = undefined;
      if (this.closed) return void socket.close(1000);
      this.socket = socket;
      this.retryMs = firstRetryMs;
      this.watchdog ??= setInterval(() => this.checkAnswers(), answerTimeoutMs / 4).unref();
    };
    socket.onmessage = (event) => this.receive(event.data);
    // Always followed by a close event, which does the work.
    socket.onerror = () => {};
    socket.onclose = (event) => {
      if (this.opening === socket) this.opening = undefined;
      if (this.socket === socket) this.socket = undefined;
      if (!opened) {
        this.retryAt = Date.now() + this.retryMs;
        this.retryMs = Math.min(lastRetryMs, this.retryMs * 2);
      }
      const why = event.reason === '' ? `code ${event.code}` : `${event.reason}, code ${event.code}`;
      this.fail(socket, new Error(`the call channel closed before the answer came (${why})`));
    };
  }

  private receive(data: unknown): void {
    let answer: { id?: unknown; result?: unknown; status?: unknown; error?: unknown };
    try {
      answer = JSON.parse(String(data));
    } catch {
      // Not the server's frame: nothing to match it to.
      return;
    }
    const waiting = typeof answer.id === 'number' ? this.waiting.get(answer.id) : undefined;
    if (waiting === undefined) return;
    this.forget(answer.id as number);
    waiting.settle(
      typeof answer.status === 'number'
        ? { status: answer.status, body: { error: answer.error } }
        : { status: 200, body: answer },
    );
  }

  /** Fails the calls waiting on `socket` (every call when undefined). */
  private fail(socket: WebSocket | undefined, reason: Error): void {
    for (const [id, waiting] of this.waiting) {
      if (socket !== undefined && waiting.socket !== socket) continue;
      this.forget(id);
      waiting.settle(reason);
    }
  }

  /** Stops waiting for call `id`; false if it was not waited for. The last one lets `close()` go on. */
  private forget(id: number): boolean {
    if (!this.waiting.delete(id)) return false;
    if (this.waiting.size === 0) this.drained?.();
    return true;
  }

  /** A call unanswered this long means the connection is gone without a word (half-open): close it. */
  private checkAnswers(): void {
    const oldest = Date.now() - answerTimeoutMs;
    for (const waiting of this.waiting.values()) {
      if (waiting.sentAt < oldest) {
        if (this.socket === waiting.socket) this.socket = undefined;
        waiting.socket.close(4000, 'an answer is overdue');
        this.fail(waiting.socket, new Error(`no answer on the call channel within ${answerTimeoutMs} ms`));
        return;
      }
    }
  }
}
