import { currentStepContext } from './context.js';

/** What a running step body knows about its own attempt. */
export interface StepMetadata {
  runId: string;
  stepId: string;
  /** 1 for the first attempt, then one more per retry. */
  attempt: number;
  /**
   * Aborted when the run is cancelled, when the attempt passes its `timeoutMs`, and when the
   * worker running it stops. Pass it to `fetch` and other cancellable I/O, so work nobody
   * will record stops early.
   */
  signal: AbortSignal;
}

/** The attempt this step body is running as. Throws outside a step body. */
export function getStepMetadata(): StepMetadata {
  const context = currentStepContext();
  if (!context) throw new Error('getStepMetadata() can only be called inside a step body');
  return {
    runId: context.runId,
    stepId: context.stepId,
    attempt: context.attempt,
    // Read through, so the attempt's signal is made only when a body uses it.
    get signal() {
      return context.signal;
    },
  };
}
