import { sleep, step, workflow } from '@cairn/core';

/** A step that takes a little while, so a run is mid-flight when the test disrupts it. */
const link = step(
  'e2e.link',
  async (index: number) => {
    await new Promise((resolve) => setTimeout(resolve, 15));
    return index + 1;
  },
  { maxRetries: 10, backoff: { initialMs: 100, factor: 2, maxMs: 2000 } },
);

/** Sequential steps: each completion must be recorded exactly once, whatever happens to the workers or the database. */
export const chain = workflow('e2e.chain', async (length: number) => {
  let value = 0;
  for (let index = 0; index < length; index++) value = await link(value);
  return value;
});

/** One durable sleep, for clock-skew tests: it must end on the World's clock, not a worker's. */
export const nap = workflow('e2e.nap', async (ms: number) => {
  await sleep(ms);
  return 'rested';
});

const count = step('e2e.count', async (index: number) => index);

/** Many quick sequential steps: each completion batch is stamped ahead, on the World's clock. */
export const tally = workflow('e2e.tally', async (length: number) => {
  let sum = 0;
  for (let index = 0; index < length; index++) sum += await count(index);
  return sum;
});
