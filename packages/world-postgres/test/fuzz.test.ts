import { describeWorkflowFuzz } from '@cairn/engine-suite';
import { connectionString, freshSchema } from './helpers.js';

// Worker processes open the World from the built package, each in a schema of its own case.
describeWorkflowFuzz({
  name: 'world-postgres',
  sharedAcrossProcesses: true,
  world: () => ({
    module: new URL('../dist/index.js', import.meta.url).href,
    factory: 'createPostgresWorld',
    options: { connectionString, schema: freshSchema() },
  }),
});
