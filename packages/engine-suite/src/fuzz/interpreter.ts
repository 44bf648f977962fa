import {
  createHook,
  FatalError,
  getRunMetadata,
  getStepMetadata,
  getWritable,
  map,
  RetryableError,
  sleep,
  startChild,
  step,
  workflow,
} from '@cairn/core';
import type { ProgramNode, StepOutcome, ThrownValue } from './program.js';
import { appendRecord, type ExecutionRecord, readRecords, sideDirectoryVariable } from './side-records.js';

/*
 * The interpreter: one workflow that runs any program, and one step per retry budget. A
 * program is deterministic given its log, so the engine can replay it like hand-written
 * code. It returns what it observed (each hook's payloads per `next()` call, the chunks it
 * wrote) so the checks can hold the log to it.
 */

export interface FuzzInput {
  program: ProgramNode;
}

export interface FuzzOutput {
  value: unknown;
  /** Payloads each hook's fulfilled `next()` calls gave, in the order the calls were made. */
  hooks: Record<string, unknown[]>;
  /** Chunks handed to the `fuzz` stream's writer, in call order (a write in a losing branch may land after the run ends). */
  issued: string[];
  /** Chunks whose write resolved before the result was taken. */
  writes: string[];
}

export interface StepArguments {
  runId: string;
  key: string;
  outcomes: StepOutcome[];
  ms: number;
}

/** A class instance the engine cannot encode as JSON: what HTTP clients often throw. */
class HttpProblem {
  constructor(readonly status: number) {}
}

function thrown(kind: ThrownValue | StepOutcome, message: string): unknown {
  switch (kind) {
    case 'class':
    case 'throw-class':
      return new HttpProblem(503);
    case 'string':
    case 'throw-string':
      return `thrown string: ${message}`;
    case 'object':
    case 'throw-object':
      return { thrown: message };
    case 'retryable':
      return new RetryableError(message, { retryAfter: 10 });
    case 'fatal':
      return new FatalError(message);
    default:
      return new Error(message);
  }
}

async function stepBody(args: StepArguments): Promise<string> {
  const directory = process.env[sideDirectoryVariable];
  let attempt = 0;
  if (directory) {
    attempt = readRecords<ExecutionRecord>(directory, 'executions').filter(
      (record) => record.runId === args.runId && record.key === args.key,
    ).length;
    appendRecord(directory, 'executions', {
      runId: args.runId,
      key: args.key,
      pid: process.pid,
      attempt: getStepMetadata().attempt,
      at: Date.now(),
    });
  }
  if (args.ms > 0) await new Promise((resolve) => setTimeout(resolve, args.ms));
  const outcome = args.outcomes[Math.min(attempt, args.outcomes.length - 1)] ?? 'ok';
  if (outcome !== 'ok') throw thrown(outcome, `${args.key} attempt ${attempt}`);
  return `${args.key}:ok`;
}

const backoff = { initialMs: 10, factor: 2, maxMs: 100 };
/** One step per retry budget: `maxRetries` is part of a step's definition, not its call. */
export const fuzzSteps = [0, 1, 2, 3].map((retries) =>
  step(`fuzz.step.r${retries}`, stepBody, { maxRetries: retries, backoff }),
);

/** A rejection as a deterministic description (it is part of the result). */
function describe(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  try {
    return `non-error ${typeof error}: ${JSON.stringify(error)}`;
  } catch {
    return `non-error ${typeof error}`;
  }
}

interface Scope {
  runId: string;
  path: string;
  output: FuzzOutput;
}

async function evaluate(node: ProgramNode, scope: Scope): Promise<unknown> {
  const key = `${scope.path}${node.id}`;
  switch (node.kind) {
    case 'step':
      return fuzzSteps[node.retries]!({ runId: scope.runId, key, outcomes: node.outcomes, ms: node.ms });
    case 'sleep':
      await sleep(node.ms);
      return `${key}:slept`;
    case 'sequence': {
      const results: unknown[] = [];
      for (const child of node.children) results.push(await evaluate(child, scope));
      return results;
    }
    case 'all':
      return Promise.all(node.children.map((child) => evaluate(child, scope)));
    case 'race':
      return Promise.race(node.children.map((child) => evaluate(child, scope)));
    case 'all-settled':
      return (await Promise.allSettled(node.children.map((child) => evaluate(child, scope)))).map((settled) =>
        settled.status === 'fulfilled' ? settled.value : { rejected: describe(settled.reason) },
      );
    case 'try':
      try {
        return await evaluate(node.body, scope);
      } catch (error) {
        return { caught: describe(error) };
      }
    case 'map':
      return map(
        Array.from({ length: node.items }, (_, index) => index),
        (index) => evaluate(node.body, { ...scope, path: `${key}[${index}].` }),
        { maxConcurrency: node.concurrency },
      );
    case 'hook':
      return readHook(node, key, scope);
    case 'child':
      return (await startChild(fuzzWorkflow, { program: node.program })).value;
    case 'write': {
      const writer = getWritable('fuzz').getWriter();
      for (let index = 0; index < node.chunks; index++) {
        const chunk = `${key}#${index}`;
        scope.output.issued.push(chunk);
        await writer.write(chunk);
        scope.output.writes.push(chunk);
      }
      writer.releaseLock();
      return `${key}:wrote`;
    }
    case 'throw':
      throw thrown(node.value, `${key} threw`);
  }
}

/** The token names the run, the node and how many payloads the node reads, so the driver knows what to send. */
export const hookToken = (runId: string, key: string, count: number): string => `${runId}/${key}/n${count}`;

async function readHook(node: Extract<ProgramNode, { kind: 'hook' }>, key: string, scope: Scope): Promise<unknown> {
  const hook = createHook<string>({ token: hookToken(scope.runId, key, node.count) });
  const seen: unknown[] = [];
  scope.output.hooks[hook.token] = seen;
  switch (node.mode) {
    case 'await':
      seen.push(await hook);
      break;
    case 'iterate':
      for await (const payload of hook) {
        seen.push(payload);
        if (seen.length === node.count) break;
      }
      break;
    case 'concurrent-next': {
      // Several next() calls in flight at once: each must claim its own payload, in call order.
      const iterator = hook[Symbol.asyncIterator]();
      const calls = Array.from({ length: node.count }, () => iterator.next());
      for (const result of await Promise.all(calls)) if (!result.done) seen.push(result.value);
      break;
    }
    case 'race-sleep': {
      // The documented way to race a hook against a timeout: keep the pending next() across ticks.
      const iterator = hook[Symbol.asyncIterator]();
      let pending = iterator.next();
      for (let tick = 0; tick < node.count + 2; tick++) {
        const winner = await Promise.race([pending, sleep(node.tickMs).then(() => undefined)]);
        if (winner === undefined) continue;
        if (winner.done) break;
        seen.push(winner.value);
        pending = iterator.next();
      }
      break;
    }
  }
  hook.dispose();
  return `${key}:${seen.length}`;
}

/** The interpreter workflow: registered by every worker of a case, in every process. */
export const fuzzWorkflow = workflow('fuzz.program', async (input: FuzzInput): Promise<FuzzOutput> => {
  const { runId } = getRunMetadata();
  const output: FuzzOutput = { value: null, hooks: {}, issued: [], writes: [] };
  output.value = await evaluate(input.program, { runId, path: '', output });
  return output;
});
