import { InvalidInputError } from '../world/errors/invalid-input-error.js';

export interface BackoffOptions {
  /** Delay before the first retry. Default 1000 ms. */
  initialMs?: number;
  /** Multiplier per further retry. Default 2. */
  factor?: number;
  /** Ceiling for any single delay. Default 60 000 ms. */
  maxMs?: number;
}

export interface StepOptions {
  /** Retries after the first attempt; `FatalError` stops them early. Default 3. */
  maxRetries?: number;
  backoff?: BackoffOptions;
  /** An attempt running longer than this fails (and may be retried). Default: no limit. */
  timeoutMs?: number;
}

export interface StepDefinition {
  readonly name: string;
  readonly fn: (...args: never[]) => unknown;
  readonly options: Required<Pick<StepOptions, 'maxRetries'>> & {
    backoff: Required<BackoffOptions>;
    timeoutMs?: number;
  };
}

export interface WorkflowDefinition<Input = unknown, Output = unknown> {
  readonly kind: 'cairn.workflow';
  readonly name: string;
  readonly fn: (input: Input) => Promise<Output>;
}

/** Every step defined in this process, by name: executors look bodies up here. */
export const stepRegistry = new Map<string, StepDefinition>();

export function validateName(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 200) {
    throw new InvalidInputError({ field, value, reason: 'must be a non-empty string of at most 200 characters' });
  }
  if (value.startsWith('cairn:')) {
    throw new InvalidInputError({ field, value, reason: 'must not start with "cairn:", which the engine reserves' });
  }
  return value;
}

export function resolveStepOptions(name: string, options: StepOptions = {}): StepDefinition['options'] {
  const { maxRetries = 3, backoff = {}, timeoutMs } = options;
  const checkCount = (value: unknown, field: string, minimum: number) => {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < minimum || !Number.isInteger(value)) {
      throw new InvalidInputError({
        field: `step("${name}").${field}`,
        value,
        reason: `must be a whole number ≥ ${minimum}`,
      });
    }
  };
  checkCount(maxRetries, 'maxRetries', 0);
  const resolved = { initialMs: 1000, factor: 2, maxMs: 60_000, ...backoff };
  checkCount(resolved.initialMs, 'backoff.initialMs', 0);
  checkCount(resolved.maxMs, 'backoff.maxMs', 0);
  if (typeof resolved.factor !== 'number' || !(resolved.factor >= 1)) {
    throw new InvalidInputError({
      field: `step("${name}").backoff.factor`,
      value: resolved.factor,
      reason: 'must be a number ≥ 1',
    });
  }
  if (timeoutMs !== undefined) checkCount(timeoutMs, 'timeoutMs', 1);
  return { maxRetries, backoff: resolved, ...(timeoutMs === undefined ? {} : { timeoutMs }) };
}

/** Delay before retry number `retry` (1-based) under `backoff`. */
export function backoffDelay(backoff: Required<BackoffOptions>, retry: number): number {
  return Math.min(backoff.maxMs, backoff.initialMs * backoff.factor ** Math.max(0, retry - 1));
}
