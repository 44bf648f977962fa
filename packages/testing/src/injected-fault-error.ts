const marker = Symbol.for('cairn.error.InjectedFault');

/**
 * A failure the test environment injected on purpose: a step attempt it failed, or the
 * write a simulated crash cut off. Its message names the fault, so a test that sees it in a
 * run's log knows where it came from.
 */
export class InjectedFaultError extends Error {
  override name = 'InjectedFaultError';
  readonly code = 'INJECTED_FAULT';
  readonly fault: string;

  constructor(args: { fault: string; message: string }) {
    super(args.message);
    this.fault = args.fault;
    Object.defineProperty(this, marker, { value: true });
  }

  static is(error: unknown): error is InjectedFaultError {
    return typeof error === 'object' && error !== null && (error as Record<symbol, unknown>)[marker] === true;
  }
}
