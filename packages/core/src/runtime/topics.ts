/** Wakes a run's orchestrator. Payload `{ runId }`; grouped by run id when the run lease is on. */
export const workflowTopic = 'cairn.workflows';
/** Executes one step attempt elsewhere than its orchestrator. Payload `{ runId, stepId }`. */
export const stepTopic = 'cairn.steps';

export interface WakeMessage {
  runId: string;
}

export interface StepMessage {
  runId: string;
  stepId: string;
}
