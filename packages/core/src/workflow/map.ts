import { MapError } from '../errors/map-error.js';
import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import { currentIdScope, currentReplay, runInIdScope } from './context.js';

export interface MapOptions {
  /** Most calls of `fn` in flight at once: a whole number ≥ 1. Default 100. */
  maxConcurrency?: number;
  /** Run every item even after failures, and resolve with a settled array. Default false. */
  continueOnError?: boolean;
}

const defaultConcurrency = 100;

function checkConcurrency(value: unknown): number {
  if (value === undefined) return defaultConcurrency;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new InvalidInputError({
      field: 'map(options.maxConcurrency)',
      value,
      reason: `must be a whole number of at least 1; omit it for the default of ${defaultConcurrency}`,
    });
  }
  return value;
}

/** Bad arguments throw `InvalidInputError`; `map` turns that into its rejected promise. */
function checkArguments(items: unknown, fn: unknown, options: MapOptions): number {
  const limit = checkConcurrency(options?.maxConcurrency);
  if (!Array.isArray(items))
    throw new InvalidInputError({ field: 'map(items)', value: items, reason: 'must be an array' });
  if (typeof fn !== 'function')
    throw new InvalidInputError({ field: 'map(fn)', value: fn, reason: 'must be a function' });
  return limit;
}

/**
 * Bounded fan-out. Calls `fn` for every item with at most `maxConcurrency` calls in flight,
 * and resolves with the results in item order, whatever order they finish in.
 *
 * Without `continueOnError`, the first failure stops new items from starting and rejects
 * with a `MapError` carrying the results so far. With it, every item runs and the result is
 * a settled array, as from `Promise.allSettled`.
 *
 * Never throws synchronously: bad arguments (`maxConcurrency` that is not a whole number
 * ≥ 1, `items` that is not an array, `fn` that is not a function) reject the returned
 * promise with `InvalidInputError`. Outside a workflow it is a plain concurrency limiter.
 *
 * Inside a workflow, each item runs in its own id scope (`map#0.5` for item 5), so the
 * steps an item calls keep their correlation ids across replays and crashes, whatever order
 * items completed in. Items that completed before a crash replay from the log and do not run again.
 */
export function map<Item, Result>(
  items: readonly Item[],
  fn: (item: Item, index: number) => Promise<Result> | Result,
  options: MapOptions & { continueOnError: true },
): Promise<PromiseSettledResult<Result>[]>;
export function map<Item, Result>(
  items: readonly Item[],
  fn: (item: Item, index: number) => Promise<Result> | Result,
  options?: MapOptions,
): Promise<Result[]>;
export function map<Item, Result>(
  items: readonly Item[],
  fn: (item: Item, index: number) => Promise<Result> | Result,
  options: MapOptions = {},
): Promise<Result[] | PromiseSettledResult<Result>[]> {
  let limit: number;
  try {
    limit = checkArguments(items, fn, options);
  } catch (error) {
    return Promise.reject(error);
  }
  const continueOnError = options?.continueOnError === true;
  const replay = currentReplay();
  // The map's own scope segment, numbered per parent scope like any other call site.
  const mapId = replay?.nextId('map', 'map');
  const scope = mapId === undefined ? undefined : `map${mapId.slice(mapId.lastIndexOf('#') + 1)}`;

  return new Promise((resolve, reject) => {
    const count = items.length;
    const outcomes: (PromiseSettledResult<Result> | undefined)[] = new Array(count);
    let started = 0;
    let running = 0;
    let finished = 0;
    let stopped = false;

    const finish = () => {
      if (continueOnError) resolve(outcomes as PromiseSettledResult<Result>[]);
      else resolve(outcomes.map((outcome) => (outcome as PromiseFulfilledResult<Result>).value));
    };

    const fail = (index: number, cause: unknown) => {
      stopped = true;
      const results = outcomes.map((outcome) => (outcome?.status === 'fulfilled' ? outcome.value : undefined));
      const completedPrefix: Result[] = [];
      for (const outcome of outcomes) {
        if (outcome?.status !== 'fulfilled') break;
        completedPrefix.push(outcome.value);
      }
      reject(new MapError({ failedIndex: index, cause, results, completedPrefix }));
    };

    const launch = () => {
      while (!stopped && running < limit && started < count) {
        const index = started++;
        running += 1;
        const call = () => Promise.resolve().then(() => fn(items[index]!, index));
        const promise =
          replay === undefined || scope === undefined
            ? call()
            : runInIdScope(replay, `${prefixScope}${scope}.${index}`, call);
        promise.then(
          (value) => {
            running -= 1;
            finished += 1;
            outcomes[index] = { status: 'fulfilled', value };
            if (stopped) return;
            if (finished === count) finish();
            else launch();
          },
          (reason: unknown) => {
            running -= 1;
            finished += 1;
            outcomes[index] = { status: 'rejected', reason };
            if (stopped) return;
            if (!continueOnError) fail(index, reason);
            else if (finished === count) finish();
            else launch();
          },
        );
      }
    };

    const prefixScope = currentIdScope() === '' ? '' : `${currentIdScope()}/`;
    if (count === 0) finish();
    else launch();
  });
}
