import { connect, type Socket } from 'node:net';

/** A short call's answer: its status and its body as text. */
export interface ShortAnswer {
  status: number;
  text: string;
}

/** Idle connections are not reused after this, staying under the server's default keep-alive (5 s). */
const idleLimitMs = 4000;
/** A connection that sends nothing for this long while a call waits on it is given up. */
const silenceLimitMs = 60_000;
/** Response headers larger than this are refused rather than buffered. */
const maxHeadBytes = 64 * 1024;

/**
 * Short calls (appends, reads, settlements) as plain HTTP/1.1 `POST`s over keep-alive
 * connections of their own, one call at a time on each, answered with a length-delimited
 * or chunked body. In a 10-step run nearly every request is one of these, and undici's
 * general machinery (request objects, header validation, the wasm parser's callbacks,
 * timers, a check before each reuse) was about a quarter of the CPU that HTTP added to each,
 * for nothing these calls use. Long-polls, live reads and `https:` servers keep undici.
 *
 * An idle connection that receives anything, or that the server closes, is dropped, and no
 * connection is reused after `idleLimitMs` or after the server's `keep-alive: timeout` hint
 * (less a second), so a call is seldom written to a connection the server is closing; when
 * one is, it fails as unavailable, as it would through undici. Answers are trusted as far as
 * the server is: it is the World.
 */
export class ShortCalls {
  private readonly idle: Connection[] = [];
  private readonly busy = new Set<Connection>();
  private closing = false;
  private drained: (() => void) | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  /** The request head after the path, up to the body's length. */
  private readonly head: string;

  constructor(
    private readonly host: string,
    private readonly port: number,
    hostHeader: string,
    authorization: string,
  ) {
    this.head = ` HTTP/1.1\r\nhost: ${hostHeader}\r\nauthorization: ${authorization}\r\ncontent-type: application/json\r\ncontent-length: `;
  }

  /** One `POST path` with a JSON body. Rejects with the connection's error if no answer arrives. */
  call(path: string, payload: string): Promise<ShortAnswer> {
    if (this.closing) return Promise.reject(new Error('the client is closing'));
    const connection = this.take();
    this.busy.add(connection);
    return connection.send(`POST ${path}${this.head}${Buffer.byteLength(payload)}\r\n\r\n${payload}`);
  }

  /** Closes idle connections at once and busy ones once their answers are in. */
  close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweeper);
    for (const connection of this.idle.splice(0)) connection.socket.destroy();
    if (this.busy.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.drained = resolve;
    });
  }

  /** The most recently used idle connection still fit for a call, or a new one. */
  private take(): Connection {
    const now = performance.now();
    for (let connection = this.idle.pop(); connection !== undefined; connection = this.idle.pop()) {
      if (connection.usableAt(now)) {
        connection.socket.ref();
        return connection;
      }
      connection.socket.destroy();
    }
    return new Connection(this, connect({ host: this.host, port: this.port, noDelay: true }));
  }

  /** A call on `connection` ended; it goes back to the idle list if it can carry another. */
  settled(connection: Connection, reusable: boolean): void {
    this.busy.delete(connection);
    if (reusable && !this.closing) {
      // An idle connection must not keep the process alive, as with undici.
      connection.socket.unref();
      this.idle.push(connection);
      this.sweeper ??= setInterval(() => this.sweep(), 1000).unref();
    } else {
      connection.socket.destroy();
    }
    if (this.closing && this.busy.size === 0) this.drained?.();
  }

  /** An idle connection closed or misbehaved. */
  dropIdle(connection: Connection): void {
    const index = this.idle.indexOf(connection);
    if (index >= 0) this.idle.splice(index, 1);
    connection.socket.destroy();
  }

  /** Closes connections idle past their limit, so they do not linger until the server cuts them. */
  private sweep(): void {
    const now = performance.now();
    for (const connection of [...this.idle]) if (!connection.usableAt(now)) this.dropIdle(connection);
    if (this.idle.length === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }
}

type Framing = { kind: 'length'; remaining: number } | { kind: 'chunked' } | { kind: 'close' } | { kind: 'none' };

/** One keep-alive connection and the answer it is reading, if a call is waiting on it. */
class Connection {
  private buffered: Buffer | undefined;
  private waiting: { resolve: (answer: ShortAnswer) => void; reject: (error: Error) => void } | undefined;
  /** The answer's head, once read. */
  private status = 0;
  private framing: Framing = { kind: 'none' };
  private keepAlive = true;
  private body: Buffer[] = [];
  /** How long after its last answer this connection may carry another call. */
  private idleLimit = idleLimitMs;
  private idleSince = 0;

  constructor(
    private readonly pool: ShortCalls,
    readonly socket: Socket,
  ) {
    socket.setKeepAlive(true, silenceLimitMs);
    socket.setTimeout(silenceLimitMs);
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.on('timeout', () => socket.destroy(new Error(`the server sent nothing for ${silenceLimitMs / 1000} s`)));
    socket.on('end', () => this.ended());
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('the connection closed before the answer was complete')));
  }

  usableAt(now: number): boolean {
    const { socket } = this;
    return now - this.idleSince < this.idleLimit && !socket.destroyed && socket.writable && !socket.readableEnded;
  }

  send(request: string): Promise<ShortAnswer> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.socket.write(request);
    });
  }

  private received(chunk: Buffer): void {
    if (this.waiting === undefined) {
      // Bytes nobody asked for: whatever they are, this connection is out of step.
      this.pool.dropIdle(this);
      return;
    }
    this.buffered = this.buffered === undefined ? chunk : Buffer.concat([this.buffered, chunk]);
    try {
      this.parse();
    } catch (error) {
      this.socket.destroy(error as Error);
    }
  }

  /** Reads as much of the answer as has arrived; completes the call once all of it has. */
  private parse(): void {
    for (;;) {
      if (this.status === 0) {
        if (!this.readHead()) return;
        // An informational answer was skipped: the real one follows.
        if (this.status === 0) continue;
      }
      const framing = this.framing;
      const buffered = this.buffered;
      if (framing.kind === 'none') {
        this.complete();
        return;
      }
      if (framing.kind === 'length') {
        if (buffered !== undefined && buffered.length > 0) {
          const taken = Math.min(framing.remaining, buffered.length);
          this.body.push(buffered.subarray(0, taken));
          framing.remaining -= taken;
          this.buffered = buffered.subarray(taken);
        }
        if (framing.remaining === 0) this.complete();
        return;
      }
      if (framing.kind === 'chunked') {
        if (!this.readChunk() || this.waiting === undefined) return;
        continue;
      }
      // The body runs to the end of the connection.
      if (buffered !== undefined && buffered.length > 0) this.body.push(buffered);
      this.buffered = undefined;
      return;
    }
  }

  /** Parses the status line and headers; false until they have all arrived. */
  private readHead(): boolean {
    const buffered = this.buffered;
    if (buffered === undefined) return false;
    const end = buffered.indexOf('\r\n\r\n');
    if (end < 0) {
      if (buffered.length > maxHeadBytes) throw new Error('the answer headers are too large');
      return false;
    }
    const lines = buffered.toString('latin1', 0, end).split('\r\n');
    this.buffered = buffered.subarray(end + 4);
    const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(lines[0]!);
    if (!statusLine) throw new Error('the answer is not HTTP/1.1');
    const status = Number(statusLine[2]);
    let length: number | undefined;
    let chunked = false;
    let encoded = false;
    let keepAlive = statusLine[1] === '1';
    for (let index = 1; index < lines.length; index++) {
      const line = lines[index]!;
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error('the answer has a malformed header');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) {
          throw new Error('the answer has an invalid content-length');
        }
        length = Number(value);
      } else if (name === 'transfer-encoding') {
        encoded = true;
        chunked = /(?:^|,)\s*chunked\s*$/i.test(value);
      } else if (name === 'connection') {
        const tokens = value.toLowerCase();
        if (/(?:^|,)\s*close\s*(?:,|$)/.test(tokens)) keepAlive = false;
        else if (/(?:^|,)\s*keep-alive\s*(?:,|$)/.test(tokens)) keepAlive = true;
      } else if (name === 'keep-alive') {
        const hint = /timeout=(\d+)/i.exec(value);
        if (hint) this.idleLimit = Math.min(idleLimitMs, (Number(hint[1]) - 1) * 1000);
      }
    }
    // Informational answers (100 Continue) precede the real one.
    if (status < 200 && status !== 101) return true;
    if (status === 101) throw new Error('the server switched protocols');
    this.status = status;
    this.keepAlive = keepAlive;
    if (status === 204 || status === 304) this.framing = { kind: 'none' };
    else if (chunked) this.framing = { kind: 'chunked' };
    else if (encoded) this.framing = { kind: 'close' };
    else if (length !== undefined) this.framing = { kind: 'length', remaining: length };
    else this.framing = { kind: 'close' };
    if (this.framing.kind === 'close') this.keepAlive = false;
    return true;
  }

  /** Reads one chunk of a chunked body; false until it has all arrived. */
  private readChunk(): boolean {
    const buffered = this.buffered;
    if (buffered === undefined) return false;
    const lineEnd = buffered.indexOf('\r\n');
    if (lineEnd < 0) {
      if (buffered.length > maxHeadBytes) throw new Error('the answer has a malformed chunk');
      return false;
    }
    const sizeText = buffered.toString('latin1', 0, lineEnd).split(';')[0]!.trim();
    if (!/^[0-9a-fA-F]{1,12}$/.test(sizeText)) throw new Error('the answer has a malformed chunk');
    const size = Number.parseInt(sizeText, 16);
    if (size === 0) {
      // The last chunk, then trailers (ignored) up to an empty line.
      const trailersEnd = buffered.indexOf('\r\n\r\n', lineEnd);
      const bare = buffered.length >= lineEnd + 4 && buffered.toString('latin1', lineEnd, lineEnd + 4) === '\r\n\r\n';
      if (!bare && trailersEnd < 0) return false;
      this.buffered = buffered.subarray((bare ? lineEnd : trailersEnd) + 4);
      this.complete();
      return true;
    }
    const start = lineEnd + 2;
    if (buffered.length < start + size + 2) return false;
    if (buffered.toString('latin1', start + size, start + size + 2) !== '\r\n') {
      throw new Error('the answer has a malformed chunk');
    }
    this.body.push(buffered.subarray(start, start + size));
    this.buffered = buffered.subarray(start + size + 2);
    return true;
  }

  private ended(): void {
    if (this.waiting !== undefined && this.status >= 200 && this.framing.kind === 'close') {
      this.keepAlive = false;
      this.complete();
    } else if (this.waiting === undefined) {
      this.pool.dropIdle(this);
    }
  }

  private complete(): void {
    const waiting = this.waiting;
    if (waiting === undefined) return;
    const { body, status } = this;
    const text = body.length === 1 ? body[0]!.toString() : Buffer.concat(body).toString();
    // Anything after the answer was not asked for: the connection is not reused.
    const reusable = this.keepAlive && (this.buffered === undefined || this.buffered.length === 0);
    this.waiting = undefined;
    this.buffered = undefined;
    this.body = [];
    this.status = 0;
    this.framing = { kind: 'none' };
    this.idleSince = performance.now();
    this.pool.settled(this, reusable && this.idleLimit > 0);
    waiting.resolve({ status, text });
  }

  private fail(error: Error): void {
    const waiting = this.waiting;
    if (waiting === undefined) {
      this.pool.dropIdle(this);
      return;
    }
    this.waiting = undefined;
    this.pool.settled(this, false);
    waiting.reject(error);
  }
}
