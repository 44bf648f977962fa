import { randomBytes } from 'node:crypto';
import { describeWorldConformance } from '@cairn/world-conformance';
import { createPostgresWorld } from '@cairn/world-postgres';
import { inject } from 'vitest';
import { httpWorldInFront, openPeer } from './helpers.js';

const connectionString = inject('connectionString');

// Each World gets a schema of its own on the run's throwaway PostgreSQL.
describeWorldConformance({
  name: 'world-http → world-postgres',
  createWorld: () =>
    httpWorldInFront(createPostgresWorld({ connectionString, schema: `http_${randomBytes(6).toString('hex')}` })),
  openPeer,
});
