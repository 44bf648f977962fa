import type {
  Hook,
  ListRunsOptions,
  Page,
  PageOptions,
  Run,
  Step,
  Wait,
  WorldHooks,
  WorldRuns,
  WorldSteps,
  WorldWaits,
} from '@cairn/core/world';
import type { HttpTransport } from './http-transport.js';

/** The entity views over HTTP: each read is one round trip, validated by the World behind the server. */
export function httpViews(transport: HttpTransport): {
  runs: WorldRuns;
  steps: WorldSteps;
  hooks: WorldHooks;
  waits: WorldWaits;
} {
  const call = <Result>(route: string, body: unknown) => transport.call<Result>(route, body);
  return {
    runs: {
      get: (runId) => call<Run>('runs.get', { runId }),
      list: (options?: ListRunsOptions) => call<Page<Run>>('runs.list', { options }),
    },
    steps: {
      get: (runId, stepId) => call<Step>('steps.get', { runId, stepId }),
      list: (runId, options?: PageOptions) => call<Page<Step>>('steps.list', { runId, options }),
    },
    hooks: {
      get: (runId, hookId) => call<Hook>('hooks.get', { runId, hookId }),
      getByToken: (token) => call<Hook>('hooks.getByToken', { token }),
      list: (runId, options?: PageOptions) => call<Page<Hook>>('hooks.list', { runId, options }),
    },
    waits: {
      get: (runId, waitId) => call<Wait>('waits.get', { runId, waitId }),
      list: (runId, options?: PageOptions) => call<Page<Wait>>('waits.list', { runId, options }),
    },
  };
}
