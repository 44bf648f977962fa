/**
 * An abort that makes its `AbortSignal` only when somebody asks for it. Every step attempt
 * needs one (the run may be cancelled, the worker may stop, the attempt may time out), yet
 * almost no step body reads `getStepMetadata().signal`. Node's `AbortController`, with the
 * listener that links it to its parent, costs about 9 µs an attempt, a few percent of a
 * warm step's CPU; this costs a plain object until the signal is read.
 */
export class LazyAbort {
  private controller: AbortController | undefined;
  private abortedWith: { reason: unknown } | undefined;
  private listeners: ((reason: unknown) => void)[] | undefined;

  get aborted(): boolean {
    return this.abortedWith !== undefined;
  }

  get reason(): unknown {
    return this.abortedWith?.reason;
  }

  /** The signal, made on first read; already aborted if this was. */
  get signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.abortedWith !== undefined) this.controller.abort(this.abortedWith.reason);
    }
    return this.controller.signal;
  }

  /** Aborts with `reason`; only the first call counts, as with `AbortController`. */
  abort(reason?: unknown): void {
    if (this.abortedWith !== undefined) return;
    this.abortedWith = { reason };
    this.controller?.abort(reason);
    const listeners = this.listeners;
    this.listeners = undefined;
    for (const listener of listeners ?? []) listener(reason);
  }

  /**
   * Aborts this one when `parent` aborts (at once if it already has). Returns the function
   * that stops following, to be called when this one is no longer needed.
   */
  follow(parent: LazyAbort | AbortSignal | undefined): () => void {
    if (parent === undefined) return doNothing;
    if (parent.aborted) {
      this.abort(parent.reason);
      return doNothing;
    }
    const forward = (reason: unknown) => this.abort(reason);
    if (parent instanceof LazyAbort) return parent.onAbort(forward);
    const listener = () => forward(parent.reason);
    parent.addEventListener('abort', listener, { once: true });
    return () => parent.removeEventListener('abort', listener);
  }

  private onAbort(listener: (reason: unknown) => void): () => void {
    this.listeners ??= [];
    this.listeners.push(listener);
    return () => {
      const index = this.listeners?.indexOf(listener) ?? -1;
      if (index >= 0) this.listeners!.splice(index, 1);
    };
  }
}

const doNothing = () => {};
