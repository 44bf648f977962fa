import { z } from 'zod';
import { runWaitingReasonSchema } from './events.js';
import {
  idSchema,
  jsonValueSchema,
  nameSchema,
  serializedErrorSchema,
  timestampSchema,
  tokenSchema,
} from './primitives.js';

/*
 * Entities are views materialised from the log; no World writes them directly. Each
 * field says which event sets it.
 */

export const runStatuses = ['pending', 'running', 'completed', 'failed', 'cancelled'] as const;
export const runStatusSchema = z.enum(runStatuses);
export type RunStatus = z.infer<typeof runStatusSchema>;
export const terminalRunStatuses: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];
export const isTerminalRunStatus = (status: RunStatus): boolean => terminalRunStatuses.includes(status);

/** Why a pending run has not started, as the last `run_waiting` said. */
export const runWaitingSchema = z.object({
  reason: runWaitingReasonSchema,
  message: z.string(),
  /** The workflows the reporting worker has. */
  workerWorkflows: z.array(nameSchema).optional(),
  /** The first run_waiting's createdAt with this reason; a later report of it keeps it. */
  since: timestampSchema,
});
export type RunWaiting = z.infer<typeof runWaitingSchema>;

export const runSchema = z.object({
  runId: idSchema,
  workflowName: nameSchema,
  /** pending at run_created, running at run_started, then one of the terminal three. */
  status: runStatusSchema,
  input: jsonValueSchema.optional(),
  output: jsonValueSchema.optional(),
  error: serializedErrorSchema.optional(),
  metadata: z.record(z.string(), jsonValueSchema).optional(),
  parentRunId: idSchema.optional(),
  /** Set by run_cancelled. */
  cancelReason: z.string().optional(),
  /**
   * Set by run_waiting while the run is pending: why no worker has started it (its
   * workflow is registered with no worker that took it, for one). Removed by run_started
   * and by the terminal events.
   */
  waiting: runWaitingSchema.optional(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
  startedAt: timestampSchema.optional(),
  completedAt: timestampSchema.optional(),
  /** Seq and id of the run's last event: the tail a fenced writer must name. */
  lastSeq: z.number().int().positive(),
  lastEventId: z.string(),
});
export type Run = z.infer<typeof runSchema>;

export const stepStatuses = ['pending', 'running', 'completed', 'failed'] as const;
export const stepStatusSchema = z.enum(stepStatuses);
export type StepStatus = z.infer<typeof stepStatusSchema>;

export const stepSchema = z.object({
  runId: idSchema,
  /** The correlation id of step_created. */
  stepId: idSchema,
  stepName: nameSchema,
  /** pending at step_created and after step_retrying, running at step_started. */
  status: stepStatusSchema,
  input: jsonValueSchema.optional(),
  output: jsonValueSchema.optional(),
  /** The last failure: from step_retrying while retries remain, from step_failed at the end. */
  error: serializedErrorSchema.optional(),
  /** Count of step_started events: 0 until the first attempt begins. */
  attempt: z.number().int().nonnegative(),
  /** Count of step_retrying events: failed attempts that will be retried. */
  retries: z.number().int().nonnegative(),
  /** From step_retrying: the earliest time the next attempt may start. */
  retryAfter: timestampSchema.optional(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
  startedAt: timestampSchema.optional(),
  completedAt: timestampSchema.optional(),
});
export type Step = z.infer<typeof stepSchema>;

export const hookStatusSchema = z.enum(['active', 'disposed']);
export type HookStatus = z.infer<typeof hookStatusSchema>;

export const hookSchema = z.object({
  runId: idSchema,
  /** The correlation id of hook_created. */
  hookId: idSchema,
  token: tokenSchema,
  /** disposed by hook_disposed, or when the run reaches a terminal status (the token is then free). */
  status: hookStatusSchema,
  metadata: jsonValueSchema.optional(),
  /** Number of hook_received events so far. */
  receivedCount: z.number().int().nonnegative(),
  createdAt: timestampSchema,
  updatedAt: timestampSchema,
  disposedAt: timestampSchema.optional(),
});
export type Hook = z.infer<typeof hookSchema>;

export const waitStatusSchema = z.enum(['waiting', 'completed']);
export type WaitStatus = z.infer<typeof waitStatusSchema>;

export const waitSchema = z.object({
  runId: idSchema,
  /** The correlation id of wait_created. */
  waitId: idSchema,
  status: waitStatusSchema,
  resumeAt: timestampSchema,
  createdAt: timestampSchema,
  completedAt: timestampSchema.optional(),
});
export type Wait = z.infer<typeof waitSchema>;
