import type { Dispatcher } from 'undici';

/** A whole answer: its status, its body as text, and its content type, looked up only when needed. */
export interface Answer {
  status: number;
  text: string;
  contentType(): string | undefined;
}

/**
 * Collects one short JSON answer straight from the connection. Undici's `request()` would
 * wrap it in a readable stream, parse every header into an object and track an async
 * resource: a measurable share of a call's cost, for a body read whole anyway.
 */
export class CallHandler implements Dispatcher.DispatchHandler {
  private status = 0;
  /** Kept as undici gives them: read only to describe an answer that is not the server's. */
  private rawHeaders: readonly Buffer[] = [];
  private readonly chunks: Buffer[] = [];
  private abort: ((reason?: Error) => void) | undefined;
  private reason: unknown;
  private readonly onAbort: (() => void) | undefined;

  constructor(
    private readonly resolve: (answer: Answer) => void,
    private readonly reject: (error: unknown) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal === undefined) return;
    if (signal.aborted) {
      this.reason = signal.reason;
      return;
    }
    this.onAbort = () => {
      this.reason = signal.reason;
      this.abort?.(signal.reason as Error);
    };
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  onConnect(abort: (reason?: Error) => void): void {
    if (this.reason !== undefined) abort(this.reason as Error);
    else this.abort = abort;
  }

  onHeaders(status: number, rawHeaders: Buffer[]): boolean {
    this.status = status;
    this.rawHeaders = rawHeaders;
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.chunks.push(chunk);
    return true;
  }

  onComplete(): void {
    this.done();
    const { chunks } = this;
    const text = chunks.length === 1 ? chunks[0]!.toString() : Buffer.concat(chunks).toString();
    const { rawHeaders } = this;
    this.resolve({ status: this.status, text, contentType: () => headerValue(rawHeaders, 'content-type') });
  }

  onError(error: Error): void {
    this.done();
    this.reject(error);
  }

  private done(): void {
    if (this.onAbort) this.signal!.removeEventListener('abort', this.onAbort);
  }
}

/** The value of header `name` (lower case) in undici's flat list of names and values. */
function headerValue(rawHeaders: readonly Buffer[], name: string): string | undefined {
  for (let index = 0; index + 1 < rawHeaders.length; index += 2) {
    if (rawHeaders[index]!.toString('latin1').toLowerCase() === name) return rawHeaders[index + 1]!.toString('latin1');
  }
  return undefined;
}
