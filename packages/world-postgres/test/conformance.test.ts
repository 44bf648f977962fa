import type { World } from '@cairn/core/world';
import { describeWorldConformance } from '@cairn/world-conformance';
import { createPostgresWorld } from '../src/index.js';
import { connectionString, freshSchema } from './helpers.js';

// Each World gets its own schema; a peer is a second World (its own pool) on that schema,
// which is exactly what another process would open. Reopening is the same, after a close.
const schemaOf = new WeakMap<World, string>();
const openOn = (schema: string) => {
  const world = createPostgresWorld({ connectionString, schema });
  schemaOf.set(world, schema);
  return world;
};

describeWorldConformance({
  name: 'world-postgres',
  createWorld: () => openOn(freshSchema()),
  openPeer: (world) => createPostgresWorld({ connectionString, schema: schemaOf.get(world)! }),
  reopen: (world) => openOn(schemaOf.get(world)!),
});
