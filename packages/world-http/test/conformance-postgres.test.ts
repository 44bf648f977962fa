import { randomBytes } from 'node:crypto';
import { describeWorldConformance } from '@cairn/world-conformance';
import { createPostgresWorld } from '@cairn/world-postgres';
import { inject } from 'vitest';
import { openPeer, servedStores } from './helpers.js';

const connectionString = inject('connectionString');
const { served, reopen } = servedStores((schema: string) => createPostgresWorld({ connectionString, schema }));

// Each World gets a schema of its own on the run's throwaway PostgreSQL.
describeWorldConformance({
  name: 'world-http → world-postgres',
  createWorld: () => served(`http_${randomBytes(6).toString('hex')}`),
  openPeer,
  reopen,
});
