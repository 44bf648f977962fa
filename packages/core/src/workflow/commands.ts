import type { JsonValue } from '../world/schemas/primitives.js';

/** A promise with its settlers, for a command the log settles later. */
export interface Deferred {
  promise: Promise<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export function deferred(): Deferred {
  let resolve!: (value: unknown) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<unknown>((onResolve, onReject) => {
    resolve = onResolve;
    reject = onReject;
  });
  // A rejection nobody awaits (the loser of a Promise.race) must not crash the process.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

export interface StepCommand extends Deferred {
  kind: 'step';
  id: string;
  name: string;
  input: JsonValue;
  recorded: boolean;
  settled: boolean;
  /** Failed attempts recorded by step_retrying. */
  retries: number;
  retryAfter: number | undefined;
  /**
   * Where its attempts run, as recorded in its step_created: on the orchestrating worker
   * (`inline`) or by the step queue's consumers (`queue`). Fixed for the step's life, so
   * no pass ever starts an attempt that the queue also runs.
   */
  placement: 'inline' | 'queue';
  /** Set when this "step" is a child run: the orchestrator starts the child instead of running a body. */
  child?: { workflowName: string; runId: string };
}

export interface WaitCommand extends Deferred {
  kind: 'wait';
  id: string;
  resumeAt: number;
  /** When its wait_created was committed; set once recorded. */
  createdAt?: number;
  recorded: boolean;
  settled: boolean;
}

export interface HookCommand {
  kind: 'hook';
  id: string;
  token: string;
  recorded: boolean;
  /** Payloads in delivery (log) order. */
  received: unknown[];
  /** When each payload was committed, in the same order. */
  receivedAt: number[];
  /** When its hook_created was committed; set once recorded. */
  createdAt?: number;
  first: Deferred;
  /** Woken whenever a payload arrives or the hook is disposed. */
  listeners: Set<() => void>;
  disposeRequested: boolean;
  disposed: boolean;
}

/** What workflow code asked for: each becomes a creation event in the log, in issue order. */
export type Command = StepCommand | WaitCommand | HookCommand;

/** How a divergence error names a command. */
export const describeCommand = (command: Command) =>
  command.kind === 'step'
    ? `step "${command.name}" (${command.id})`
    : command.kind === 'wait'
      ? `sleep (${command.id})`
      : `hook "${command.token}" (${command.id})`;

/**
 * A step not recorded yet. Every command of a kind is built by one function with its fields
 * in one order, so they share a hidden class; the deferred's parts are named rather than
 * spread in, since spreading a fresh object into a literal gives it a new hidden class each
 * time, which V8 is slow to build.
 */
export function stepCommand(
  id: string,
  name: string,
  input: JsonValue,
  child?: { workflowName: string; runId: string },
): StepCommand {
  const { promise, resolve, reject } = deferred();
  const command: StepCommand = {
    kind: 'step',
    id,
    name,
    input,
    recorded: false,
    settled: false,
    retries: 0,
    retryAfter: undefined,
    placement: 'inline',
    promise,
    resolve,
    reject,
  };
  if (child !== undefined) command.child = child;
  return command;
}

export function waitCommand(id: string, resumeAt: number): WaitCommand {
  const { promise, resolve, reject } = deferred();
  return { kind: 'wait', id, resumeAt, recorded: false, settled: false, promise, resolve, reject };
}

export function hookCommand(id: string, token: string): HookCommand {
  return {
    kind: 'hook',
    id,
    token,
    recorded: false,
    received: [],
    receivedAt: [],
    first: deferred(),
    listeners: new Set(),
    disposeRequested: false,
    disposed: false,
  };
}
