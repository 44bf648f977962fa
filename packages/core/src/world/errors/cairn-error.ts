/**
 * Errors must be recognisable even when two copies of `@cairn/core` are loaded (a World
 * published against one version, an app on another), so `instanceof` is not enough. Every
 * class stamps a process-wide `Symbol.for` marker on its instances, and subclasses stamp
 * their parents' markers too through the constructor chain.
 */
const baseMarker = Symbol.for('cairn.error');

export function markError(error: object, marker: symbol): void {
  Object.defineProperty(error, marker, { value: true, enumerable: false });
}

export function hasErrorMarker(value: unknown, marker: symbol): boolean {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[marker] === true;
}

/** Renders a value for an error message: short, single-line, never throwing. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value}n`;
  // JSON would render NaN and the infinities as null, hiding the very value at fault.
  if (typeof value === 'number') return Object.is(value, -0) ? '-0' : String(value);
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`;
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? 'Invalid Date' : value.toISOString();
  if (value instanceof Uint8Array) return `Uint8Array(${value.byteLength})`;
  try {
    const text = JSON.stringify(value) ?? String(value);
    return text.length > 80 ? `${text.slice(0, 77)}...` : text;
  } catch {
    return Object.prototype.toString.call(value);
  }
}

export interface CairnErrorOptions {
  cause?: unknown;
}

/**
 * The root of every error Cairn throws on purpose. `code` is stable across versions and is
 * what the HTTP World puts on the wire; `retryable` tells a caller whether the same call
 * may succeed later without any change on its side.
 */
export class CairnError extends Error {
  readonly code: string = 'CAIRN_ERROR';
  readonly retryable: boolean = false;

  constructor(message: string, options: CairnErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    markError(this, baseMarker);
  }

  static is(error: unknown): error is CairnError {
    return hasErrorMarker(error, baseMarker);
  }

  /** The fields a receiver needs to rebuild this error on the other side of a wire. */
  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message };
  }
}
