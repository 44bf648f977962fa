import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { HookNotFoundError, HookTokenConflictError, type QueueMessage } from '@cairn/core/world';
import { afterAll, describe, expect, it } from 'vitest';
import { Keys } from '../src/keys.js';
import { runScript } from '../src/scripts.js';
import { clusterNodes, createTestWorld, disconnectRawClients, rawClient, redisUrl, type Topology } from './helpers.js';

const fixture = fileURLToPath(new URL('./fixtures/crash-between.mjs', import.meta.url));

/** Runs the fixture, which SIGKILLs itself at `step`; resolves with how it ended. */
function crashAt(step: string, argument: object): Promise<NodeJS.Signals | number | null> {
  if (!existsSync(new URL('../dist/index.js', import.meta.url))) {
    throw new Error('build @cairn/world-redis first (npm test and turbo do): the crash fixture runs dist/');
  }
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [fixture, step, JSON.stringify(argument)], (error) => {
      if (error && child.signalCode === null) console.error(error);
    });
    child.once('exit', (code, signal) => resolve(signal ?? code));
  });
}

async function until<Value>(probe: () => Promise<Value | undefined>, what: string, timeoutMs = 20_000): Promise<Value> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

afterAll(disconnectRawClients);

// The steps that span two slots, interrupted by a SIGKILL between them: the store must
// stay correct and the next process must repair it.
describe.each<Topology>(['single', 'cluster'])(
  'world-redis (%s): a process killed between cross-slot steps',
  (topology) => {
    const source = topology === 'single' ? { url: redisUrl } : { cluster: { nodes: clusterNodes } };
    const client = () => rawClient(topology);

    it('after a hook token claim: no live hook, the next run takes the token, and the dead claim cannot come back', async () => {
      const world = createTestWorld(topology);
      const prefix = world.name.split('/').at(-1)!;
      const keys = new Keys(prefix, 16);
      const token = `crash-token-${Math.random()}`;
      const { event } = await world.events.create(null, {
        eventType: 'run_created',
        eventData: { workflowName: 'crash' },
      });
      const first = event.runId;
      await world.events.create(first, { eventType: 'run_started' });

      expect(await crashAt('token-claim', { source, prefix, runId: first, token })).toBe('SIGKILL');
      const redis = client();
      const claim = JSON.parse((await redis.get(keys.tokenKey(token)))!) as { r: string; n: string };
      expect(claim.r, 'the claim was made before the kill').toBe(first);
      await expect(world.hooks.getByToken(token)).rejects.toSatisfy(HookNotFoundError.is);

      // Another run takes the token over: the dead claim named no live hook.
      const second = (
        await world.events.create(null, { eventType: 'run_created', eventData: { workflowName: 'crash' } })
      ).event.runId;
      const created = await world.events.create(second, {
        eventType: 'hook_created',
        correlationId: 'hook-1',
        eventData: { token },
      });
      expect(created.hook?.token).toBe(token);
      expect((await world.hooks.getByToken(token)).runId).toBe(second);
      // The dead claim's nonce is revoked in its run's partition, so an append still carrying it is refused...
      expect(await redis.sismember(`${keys.runBase(first)}:rv:${first}`, `${token}|${claim.n}`)).toBe(1);
      // An append of the first run still in flight with the dead claim (run here by hand, as
      // it would arrive late) is refused, writes nothing, and would claim again.
      const before = await world.runs.get(first);
      const request = { eventType: 'hook_created', correlationId: 'hook-1', eventData: { token } };
      const base = keys.runBase(first);
      const late = await runScript(
        redis,
        'append',
        `${base}:r:${first}`,
        {
          base,
          runId: first,
          runIdJ: JSON.stringify(first),
          channel: keys.channel,
          creates: false,
          maxAhead: 10_000,
          retention: 1000,
          requests: [{ t: 'hook_created', c: 'hook-1', cj: '"hook-1"', tok: token, raw: 2, d: { token: 3 } }],
          tokens: { [token]: { n: claim.n } },
          messages: [],
        },
        [JSON.stringify(request), JSON.stringify(token)],
      );
      expect(JSON.parse(late as string)).toEqual({ failure: { code: 'CLAIM_REVOKED', token } });
      expect(await world.runs.get(first)).toEqual(before);
      // ...and the first run, trying again, finds the token held.
      await expect(
        world.events.create(first, { eventType: 'hook_created', correlationId: 'hook-1', eventData: { token } }),
      ).rejects.toSatisfy(HookTokenConflictError.is);
      await world.close();
    });

    it.each(['append', 'relay'])(
      'after the %s step of an outbox relay: the message is delivered exactly once',
      async (step) => {
        const world = createTestWorld(topology, { pollIntervalMs: 100 });
        const prefix = world.name.split('/').at(-1)!;
        const keys = new Keys(prefix, 16);
        const topic = 'crash.outbox';
        const { event } = await world.events.create(null, {
          eventType: 'run_created',
          eventData: { workflowName: 'crash' },
        });
        const runId = event.runId;
        await world.events.create(runId, { eventType: 'run_started' });
        // A key whose queue lives in another partition than the run, so the message must be relayed.
        let idempotencyKey = 'k0';
        for (
          let index = 1;
          keys.messagePartition(topic, { idempotencyKey }, -1) === keys.partitionOf(`run:${runId}`);
          index++
        )
          idempotencyKey = `k${index}`;

        expect(await crashAt(step, { source, prefix, runId, topic, idempotencyKey })).toBe('SIGKILL');
        const redis = client();
        const outbox = `${keys.runBase(runId)}:outbox`;
        expect(await redis.zcard(outbox), 'the outbox entry outlived the kill').toBe(1);

        const deliveries: QueueMessage[] = [];
        const consumer = world.queue.consume(topic, async (message) => {
          deliveries.push(message);
        });
        // A sweep relays the orphaned entry once it is old enough, and removes it.
        await until(
          async () => ((await redis.zcard(outbox)) === 0 && deliveries.length > 0 ? true : undefined),
          'the sweep',
        );
        await consumer.stop();
        expect(deliveries.map((message) => message.payload)).toEqual([{ from: runId }]);
        expect(deliveries[0]!.idempotencyKey).toBe(idempotencyKey);
        await world.close();
      },
    );
  },
);
