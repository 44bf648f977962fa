import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { Database } from '../src/database.js';
import { connectionString } from './helpers.js';

// Every append binds the run's new events as parameters, kilobytes of them when a step
// carries a payload. Once the statement has answered they are garbage, and they should die
// in the young generation, where collecting them costs nothing. With pg's promise form of
// `query`, each finished statement's parameters stayed reachable to the young-generation
// collector until the next full collection: every scavenge copied them and then moved them
// to the old generation, so a worker's scavenges took three times as long.

setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as (options?: { type: 'minor' | 'major' }) => void;
// Promotion lands in the old generation's two spaces: an object over V8's regular size limit
// (about 128 KB, so any text holding two of these 64 KB strings) goes to the large-object one.
const promotedSpaces = new Set(['old_space', 'large_object_space']);
const oldGenerationBytes = () =>
  getHeapSpaceStatistics()
    .filter((space) => promotedSpaces.has(space.space_name))
    .reduce((total, space) => total + space.space_used_size, 0);

const pool = new pg.Pool({ connectionString, max: 1 });
afterAll(() => pool.end());
// No schema: the statement below touches no table, so there is nothing to migrate.
const db = new Database(pool, 'released_parameters', 'test', 'test', async () => {});

const parameterBytes = 64 * 1024;
const statements = 16;
const parameter = (index: number) => `${index}:`.padEnd(parameterBytes, 'x');

async function sendStatements(first: number) {
  for (let index = first; index < first + statements; index++) {
    const [row] = await db.query<{ length: number }>('SELECT length($1::text) AS length', [parameter(index)]);
    expect(row?.length).toBe(parameterBytes);
  }
}

describe('a finished statement', () => {
  it('leaves its parameters to die young', async () => {
    await sendStatements(0);
    collect();
    await sendStatements(statements);
    const before = oldGenerationBytes();
    // Two scavenges: the first keeps whatever is still reachable, the second promotes it.
    collect({ type: 'minor' });
    collect({ type: 'minor' });
    const promoted = oldGenerationBytes() - before;
    // Kept, the 16 parameters alone would promote a megabyte.
    expect(promoted).toBeLessThan((statements * parameterBytes) / 4);
  });
});
