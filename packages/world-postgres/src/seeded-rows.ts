import type { Hook, Run, Step, WorldEvent } from '@cairn/core/world';
import { hookRow, lastSeqs, runRow, stepRow } from './stored-views.js';

/** A run's whole state, as a replay of its log leaves it. */
export interface RunState {
  run: Run;
  /** The run's whole log, in order. */
  events: readonly WorldEvent[];
  steps: readonly Step[];
  hooks: readonly Hook[];
}

/** The stored form of one run: each row's JSON body and the columns naming payload events. */
export interface StoredRunRows {
  run: { body: string; inputSeq: number | null; outcomeSeq: number | null };
  steps: { stepId: string; body: string; inputSeq: number | null; outputSeq: number | null; errorSeq: number | null }[];
  hooks: { hookId: string; body: string; metadataSeq: number | null }[];
}

/**
 * The rows this World would hold for `state`, for tools that write its tables in bulk (the
 * scale benchmark seeds a million events that way) and must leave them in the shape the
 * World writes: large payloads left to their events, small ones kept in the row. The log
 * is known whole here, so each payload column names the last event of its kind, as the
 * appends that wrote the run one by one would have left it.
 */
export function storedRowsOf(state: RunState): StoredRunRows {
  const seqs = lastSeqs(state.events);
  const run = runRow(state.run, seqs);
  const createdSeq = (stepId: string) => seqs.get(`step_created:${stepId}`) ?? null;
  return {
    run,
    steps: state.steps.map((step) => {
      const row = stepRow(step, seqs);
      return {
        stepId: step.stepId,
        body: JSON.stringify(row.bodyWithError ?? row.body),
        inputSeq: row.inputInEvent ? createdSeq(step.stepId) : null,
        outputSeq: row.outputSeq,
        errorSeq: row.errorSeq,
      };
    }),
    hooks: state.hooks.map((hook) => {
      const row = hookRow(hook);
      return {
        hookId: hook.hookId,
        body: JSON.stringify(row.body),
        metadataSeq: row.metadataInEvent ? (seqs.get(`hook_created:${hook.hookId}`) ?? null) : null,
      };
    }),
  };
}
