import { HookTokenConflictError } from '@cairn/core/world';
import { afterAll, describe, expect, it } from 'vitest';
import { Keys } from '../src/keys.js';
import { runScript } from '../src/scripts.js';
import { createTestWorld, disconnectRawClients, freshPrefix, rawClient, type Topology } from './helpers.js';

afterAll(disconnectRawClients);

const runCreated = { eventType: 'run_created', eventData: { workflowName: 'claims' } } as const;

describe.each<Topology>(['single', 'cluster'])('world-redis (%s): hook token claims', (topology) => {
  const client = () => rawClient(topology);

  // A takeover (or a release after a dispose) revokes the holder's nonce, then replaces the
  // claim. Cut off between the two (a crash, a dropped connection), it leaves the run's own
  // claim in place with a nonce its appends are refused with.
  it('a run whose own claim was revoked by an interrupted takeover still creates a hook with the token', async () => {
    const world = createTestWorld(topology);
    const keys = new Keys(world.name.split('/').at(-1)!, 16);
    const token = `revoked-${freshPrefix()}`;
    const runId = (await world.events.create(null, runCreated)).event.runId;
    await world.events.create(runId, { eventType: 'run_started' });

    const redis = client();
    const tokenKey = keys.tokenKey(token);
    await runScript(redis, 'token-claim', tokenKey, { key: tokenKey, runId, nonce: 'stale-nonce' });
    const base = keys.runBase(runId);
    const check = await runScript(redis, 'token-check', `${base}:t:${runId}`, {
      base,
      runId,
      token,
      nonce: 'stale-nonce',
    });
    expect(JSON.parse(check as string)).toEqual({ free: true });

    const created = await world.events.create(runId, {
      eventType: 'hook_created',
      correlationId: 'hook-1',
      eventData: { token },
    });
    expect(created.hook?.status).toBe('active');
    expect((await world.hooks.getByToken(token)).runId).toBe(runId);

    // The token is still exclusive: another run is refused while the hook lives.
    const other = (await world.events.create(null, runCreated)).event.runId;
    await expect(
      world.events.create(other, { eventType: 'hook_created', correlationId: 'hook-1', eventData: { token } }),
    ).rejects.toSatisfy(HookTokenConflictError.is);
    await world.close();
  });
});
