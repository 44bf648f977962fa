import { randomBytes } from 'node:crypto';
import { describeWorkflowFuzz } from '@cairn/engine-suite';
import { createPostgresWorld } from '@cairn/world-postgres';
import { inject } from 'vitest';
import { servedPerCase } from './helpers.js';

const connectionString = inject('connectionString');

// Worker processes speak only HTTP, to a server of the case's own in this process, in front
// of a fresh PostgreSQL schema.
describeWorkflowFuzz({
  name: 'world-http → world-postgres',
  sharedAcrossProcesses: true,
  ...servedPerCase(() => createPostgresWorld({ connectionString, schema: `http_${randomBytes(6).toString('hex')}` })),
});
