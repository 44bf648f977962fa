import { createHook, sleep, step, workflow } from '@cairn/core';

// Workflows the tests of the engine invariant and of warm passes share.

export const quick = step('invariant.quick', async (value: number) => value + 1);

/** A step that takes `ms` before answering them. */
export const slowish = step('invariant.slowish', async (ms: number) => {
  await new Promise((resolve) => setTimeout(resolve, ms));
  return ms;
});

/** `steps` quick steps one after the other, each adding one. */
export const longChain = workflow('invariant.long-chain', async (steps: number) => {
  let value = 0;
  for (let index = 0; index < steps; index++) value = await quick(value);
  return value;
});

/** A hook raced against a 30 ms sleep: `hook:<payload>` or `sleep`, whichever comes first. */
export const hookOrSleep = workflow('invariant.hook-or-sleep', async (token: string) => {
  const hook = createHook<string>({ token });
  return Promise.race([hook.then((payload) => `hook:${payload}`), sleep(30).then(() => 'sleep')]);
});
