// The engine's queue topics, as the suite observes them (kept in step with @cairn/core's runtime).
export const workflowTopic = 'cairn.workflows';
export const stepTopic = 'cairn.steps';
