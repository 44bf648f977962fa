// The benchmark's workflows for Vercel's Workflow DevKit. The builder (see build.mjs)
// compiles this file three ways: "workflow" mode (workflow bodies, run in the runtime's
// sandboxed VM; step calls become queue messages), "step" mode (step bodies, registered
// with the step handler) and "client" mode (workflow exports carry their workflowId for
// start()).
import { createHook, getWritable } from 'workflow';

// Identical to payloadOf in benchmarks/src/driver-kit.mjs. Copied because workflow bodies
// run in a sandbox bundle that cannot import that module (it imports node:readline).
const payloadOf = (bytes: number, seed = 0): string => {
  if (bytes <= 0) return '';
  const unit = `cairn-bench-${seed}-`;
  return unit.repeat(Math.ceil(bytes / unit.length)).slice(0, bytes);
};

// ------------------------------------------------------------------------------------------
// Steps: no-op bodies apart from what the protocol asks them to carry.

/** Takes a payload and returns it (the payload step of sequential and concurrent). */
async function echo(payload: string): Promise<string> {
  'use step';
  return payload;
}

/** A no-op item step for map: returns its index. */
async function item(index: number): Promise<number> {
  'use step';
  return index;
}

/** Records when its body runs (the epoch clock of driver-kit's preciseNow). */
async function stamp(): Promise<number> {
  'use step';
  return performance.timeOrigin + performance.now();
}

/** Writes totalBytes to the run's default stream in chunks of chunkBytes, then closes it. */
async function writeChunks(totalBytes: number, chunkBytes: number): Promise<number> {
  'use step';
  const writer = getWritable<string>().getWriter();
  let written = 0;
  while (written < totalBytes) {
    const size = Math.min(chunkBytes, totalBytes - written);
    await writer.write(payloadOf(size, written));
    written += size;
  }
  await writer.close();
  return written;
}

// ------------------------------------------------------------------------------------------
// Workflows.

/** `steps` sequential payload steps; returns how many step results came back intact. */
export async function sequential(steps: number, payloadBytes: number): Promise<number> {
  'use workflow';
  let completed = 0;
  for (let index = 0; index < steps; index++) {
    const result = await echo(payloadOf(payloadBytes, index));
    if (typeof result === 'string' && result.length === payloadBytes) completed++;
  }
  return completed;
}

/** `steps` payload steps at once: 'all' counts the results, 'race' returns 1 after the first. */
export async function concurrent(steps: number, payloadBytes: number, mode: 'all' | 'race'): Promise<number> {
  'use workflow';
  const calls = Array.from({ length: steps }, (_, index) => echo(payloadOf(payloadBytes, index)));
  if (mode === 'race') {
    const first = await Promise.race(calls);
    return typeof first === 'string' && first.length === payloadBytes ? 1 : 0;
  }
  const results = await Promise.all(calls);
  return results.filter((result) => typeof result === 'string' && result.length === payloadBytes).length;
}

/**
 * No map primitive: chunks of maxConcurrency item steps, each chunk awaited with
 * Promise.all before the next starts, so never more than maxConcurrency are in flight.
 */
export async function fanOut(items: number, maxConcurrency: number): Promise<number> {
  'use workflow';
  let processed = 0;
  for (let start = 0; start < items; start += maxConcurrency) {
    const chunk = Array.from({ length: Math.min(maxConcurrency, items - start) }, (_, offset) => item(start + offset));
    const results = await Promise.all(chunk);
    processed += results.filter((result, offset) => result === start + offset).length;
  }
  return processed;
}

/** Waits on a hook with the given token; returns the resumed payload's value. */
export async function waitForHook(token: string): Promise<number> {
  'use workflow';
  const hook = createHook<{ value: number }>({ token });
  const payload = await hook;
  return payload.value;
}

/** One step that streams totalBytes; returns the bytes it wrote. */
export async function stream(totalBytes: number, chunkBytes: number): Promise<number> {
  'use workflow';
  return await writeChunks(totalBytes, chunkBytes);
}

/** `steps` sequential stamp steps; returns their timestamps in step order. */
export async function timestamps(steps: number): Promise<number[]> {
  'use workflow';
  const stamps: number[] = [];
  for (let index = 0; index < steps; index++) stamps.push(await stamp());
  return stamps;
}
