import { randomBytes } from 'node:crypto';
import { describeEngineSuite } from '@cairn/engine-suite';
import { createPostgresWorld } from '@cairn/world-postgres';
import { inject } from 'vitest';
import { httpWorldInFront } from './helpers.js';

const connectionString = inject('connectionString');

describeEngineSuite({
  name: 'world-http → world-postgres',
  createWorld: () =>
    httpWorldInFront(createPostgresWorld({ connectionString, schema: `http_${randomBytes(6).toString('hex')}` })),
});
