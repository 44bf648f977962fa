import { randomBytes } from 'node:crypto';
import type { World } from '@cairn/core/world';
import { describeWorldConformance } from '@cairn/world-conformance';
import { createPostgresWorld } from '@cairn/world-postgres';
import { inject } from 'vitest';
import { httpWorldInFront, openPeer } from './helpers.js';

const connectionString = inject('connectionString');
/** Each served World's schema, so a restart opens the same tables behind a new server. */
const schemaOf = new WeakMap<World, string>();

async function served(schema: string): Promise<World> {
  const world = await httpWorldInFront(createPostgresWorld({ connectionString, schema }));
  schemaOf.set(world, schema);
  return world;
}

// Each World gets a schema of its own on the run's throwaway PostgreSQL.
describeWorldConformance({
  name: 'world-http → world-postgres',
  createWorld: () => served(`http_${randomBytes(6).toString('hex')}`),
  openPeer,
  reopen: (world) => served(schemaOf.get(world)!),
});
