import { expect } from 'vitest';

/**
 * Repeats a check until one attempt shows a shape that a stalled machine can spoil.
 *
 * A stall longer than a stamp's margin (a test file beside this one holding both cores)
 * pushes the stamps in flight into the World's past. The World refuses them and the engine
 * writes again unstamped: an append more, never a wrong result. So a test of how appends
 * are stamped asserts, in every attempt, what must hold however the machine stalls, and
 * returns `true` when the attempt also showed the shape an unstalled machine gives, or a
 * description of what it saw instead. Three attempts running without that shape fail the
 * test, naming the shape and what the last attempt saw.
 *
 * @param shape what the test looks for, as the failure names it.
 * @param attempt runs one attempt; it is given the attempt's number, from 1.
 */
export async function expectInOneOfThreeAttempts(
  shape: string,
  attempt: (attemptNumber: number) => Promise<true | string>,
): Promise<void> {
  let seen = '';
  for (let attemptNumber = 1; attemptNumber <= 3; attemptNumber++) {
    const outcome = await attempt(attemptNumber);
    if (outcome === true) return;
    seen = outcome;
  }
  expect.fail(`${shape}: not seen in three attempts running; the last one saw ${seen}`);
}
