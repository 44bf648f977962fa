import { createServer, get, type Server } from 'node:http';
import { createHook, RunFailedError, step, workflow } from '@cairn/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EngineSuiteOptions, Harness } from '../harness.js';
import { openHarness } from '../harness.js';

const echo = step('stalls.echo', async (value: string) => value);

// Long enough to be pending when the pass looks, even on a slow World: a timer that fires
// first lets the code run on, and the run then diverges on its next replay instead.
const awaitsTimer = workflow('stalls.awaits-timer', async () => {
  await new Promise((resolve) => setTimeout(resolve, 3000));
  return echo('after the timer');
});
/** A plain async helper doing I/O: the most common way to stall a workflow by accident. */
async function loadConfig(url: string) {
  return new Promise<string>((resolve, reject) => {
    get(url, (response) => {
      let body = '';
      response.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      response.on('end', () => resolve(body));
    }).on('error', reject);
  });
}
const awaitsIo = workflow('stalls.awaits-io', async (url: string) => (await loadConfig(url)).length);
const waitsOnHook = workflow('stalls.waits-on-hook', async (token: string) => createHook<string>({ token }));

export function describeStalls(options: EngineSuiteOptions): void {
  describe(`${options.name}: workflows that await what is not a Cairn primitive`, () => {
    let harness: Harness;
    let slowServer: Server;
    let slowUrl: string;
    beforeEach(async () => {
      harness = await openHarness(options);
      // Answers after 300 ms: still pending when the pass looks for open work.
      slowServer = createServer((_, response) => {
        setTimeout(() => response.end('{"mode":"strict"}'), 300);
      });
      await new Promise<void>((resolve) => slowServer.listen(0, '127.0.0.1', resolve));
      slowUrl = `http://127.0.0.1:${(slowServer.address() as { port: number }).port}/config`;
    });
    afterEach(async () => {
      await harness.close();
      slowServer.closeAllConnections();
      await new Promise((resolve) => slowServer.close(resolve));
    });

    for (const definition of [awaitsTimer, awaitsIo]) {
      it(`fails ${definition.name} with WORKFLOW_STALLED instead of leaving it running`, async () => {
        await harness.startWorker({ workflows: [definition] });
        const run = await harness.client.start(definition as typeof awaitsIo, slowUrl);
        const error = await run
          .result({ signal: AbortSignal.timeout(10_000) })
          .catch((caught: unknown) => caught as RunFailedError);
        expect(RunFailedError.is(error)).toBe(true);
        expect((error as RunFailedError).failure?.code).toBe('WORKFLOW_STALLED');
        expect((error as RunFailedError).failure?.message).toMatch(/sleep\(\).*step\(\)/);
      });
    }

    it('leaves a workflow waiting on a live hook alone', async () => {
      await harness.startWorker({ workflows: [waitsOnHook] });
      const token = `stall-${Math.random()}`;
      const run = await harness.client.start(waitsOnHook, token);
      for (;;) {
        const hook = await harness.world.hooks.getByToken(token).catch(() => undefined);
        if (hook) break;
        await harness.world.events.watch(
          run.id,
          (await harness.world.runs.get(run.id)).lastSeq,
          AbortSignal.timeout(200),
        );
      }
      await harness.client.resumeHook(token, 'late');
      expect(await run.result()).toBe('late');
    });
  });
}
