import { createClient, createWebhook, createWorker, replayRun, step, workflow } from '@cairn/core';
import { request } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import type { HttpWorld } from '../src/index.js';
import { httpWorldInFront, localWorld } from './helpers.js';

const handedOut = new Map<string, (url: string) => void>();
const notify = step('webhook-test.notify', async (key: string, url: string) => {
  handedOut.get(key)?.(url);
});

const collect = workflow('webhook-test.collect', async (key: string) => {
  const hook = createWebhook();
  await notify(key, await hook.url);
  const first = await hook;
  const all = [];
  for await (const received of hook) {
    all.push({ method: received.method, type: received.headers['content-type'], body: received.body });
    if (all.length === 2) break;
  }
  return { first: first.body, all };
});

const handedOutPair = new Map<string, (urls: string[]) => void>();
const notifyPair = step('webhook-test.notify-pair', async (key: string, urls: string[]) => {
  handedOutPair.get(key)?.(urls);
});

/** Two webhooks in one run, each awaited once. */
const pair = workflow('webhook-test.pair', async (key: string) => {
  const payment = createWebhook();
  const audit = createWebhook();
  await notifyPair(key, [await payment.url, await audit.url]);
  return [(await payment).body, (await audit).body];
});

const opened: { world: HttpWorld; stop: () => Promise<void> }[] = [];
afterEach(async () => {
  for (const { world, stop } of opened.splice(0)) {
    await stop();
    await world.close();
  }
});

async function start(key: string) {
  const world = await httpWorldInFront(await localWorld());
  const worker = createWorker({ world, workflows: [collect] });
  await worker.start();
  opened.push({ world, stop: () => worker.stop() });
  const url = new Promise<string>((resolve) => handedOut.set(key, resolve));
  const run = await createClient({ world }).start(collect, key);
  return { world, run, url: await url };
}

describe('world-http: webhooks', () => {
  it('a POST from outside resumes the hook with method, headers and body, answered 202 at once', async () => {
    const { world, run, url } = await start('a');
    const token = url.slice(url.lastIndexOf('/') + 1);
    expect(url.startsWith(`${world.webhookBaseUrl}/wh_`)).toBe(true);
    // 256 random bits, nothing to do with the run id.
    expect(token).toMatch(/^wh_[A-Za-z0-9_-]{43}$/);
    expect(token).not.toContain(run.id);
    const json = await request(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"paid":true}',
    });
    expect(json.statusCode).toBe(202);
    expect(await json.body.json()).toEqual({ accepted: true });
    const text = await request(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'second' });
    expect(text.statusCode).toBe(202);
    await text.body.dump();
    expect(await run.result()).toEqual({
      first: '{"paid":true}',
      all: [
        { method: 'POST', type: 'application/json', body: '{"paid":true}' },
        { method: 'POST', type: 'text/plain', body: 'second' },
      ],
    });
    // The token is recorded once, so every replay sees the same url and the same deliveries.
    const hooks = await world.hooks.list(run.id);
    expect(hooks.data.map((hook) => hook.token)).toEqual([token]);
    expect(await replayRun(world, collect, run.id)).toEqual({ status: 'completed', output: await run.result() });
    // The run ended, so its hook is gone and the url answers 404.
    const late = await request(url, { method: 'POST', body: 'late' });
    expect(late.statusCode).toBe(404);
    expect((await late.body.json()) as unknown).toMatchObject({ error: { code: 'HOOK_NOT_FOUND' } });
  });

  it('records a request sent again with the same Idempotency-Key once, and answers both 202', async () => {
    const { world, run, url } = await start('d');
    const send = async (body: string, key: string) => {
      const answer = await request(url, { method: 'POST', headers: { 'idempotency-key': key }, body });
      await answer.body.dump();
      return answer.statusCode;
    };
    // A sender that got no answer sends the same request again, with the same key.
    expect(await send('one', 'evt-1')).toBe(202);
    expect(await send('one', 'evt-1')).toBe(202);
    const tooLong = await request(url, { method: 'POST', headers: { 'idempotency-key': 'k'.repeat(129) }, body: 'x' });
    expect(tooLong.statusCode).toBe(400);
    expect((await tooLong.body.json()) as unknown).toMatchObject({
      error: { code: 'INVALID_INPUT', field: 'headers.idempotency-key' },
    });
    expect(await send('two', 'evt-2')).toBe(202);
    const result = (await run.result()) as { all: { body: string }[] };
    expect(result.all.map((received) => received.body)).toEqual(['one', 'two']);
    const { data } = await world.events.list(run.id, { limit: 1000 });
    expect(data.filter((event) => event.eventType === 'hook_received')).toHaveLength(2);
  });

  it('scopes an Idempotency-Key to its webhook: the same key on two webhooks of one run is two deliveries', async () => {
    const world = await httpWorldInFront(await localWorld());
    const worker = createWorker({ world, workflows: [pair] });
    await worker.start();
    opened.push({ world, stop: () => worker.stop() });
    const urls = new Promise<string[]>((resolve) => handedOutPair.set('pair', resolve));
    const run = await createClient({ world }).start(pair, 'pair');
    const [payment, audit] = await urls;
    // One sender, one event, sent to both urls with the event's id as its key; each is
    // sent again too, as after a lost answer.
    for (const url of [payment!, audit!, payment!, audit!]) {
      const answer = await request(url, {
        method: 'POST',
        headers: { 'idempotency-key': 'evt_42' },
        body: url === payment ? 'paid' : 'logged',
      });
      expect(answer.statusCode).toBe(202);
      await answer.body.dump();
    }
    expect(await run.result()).toEqual(['paid', 'logged']);
    const { data } = await world.events.list(run.id, { limit: 1000 });
    const received = data.filter((event) => event.eventType === 'hook_received');
    expect(received).toHaveLength(2);
    // The id recorded is derived from the webhook and the key: not the key itself, so two
    // webhooks never share one.
    const ids = received.map((event) => (event.eventData as { deliveryId: string }).deliveryId);
    expect(new Set(ids).size).toBe(2);
    expect(ids).not.toContain('evt_42');
  });

  it('each webhook gets its own token; a GET or an unknown token is refused with a typed error', async () => {
    const first = await start('b');
    const second = await start('c');
    expect(first.url).not.toBe(second.url);
    const get = await request(first.url, { method: 'GET' });
    expect(get.statusCode).toBe(405);
    expect(((await get.body.json()) as { error: { code: string } }).error.code).toBe('METHOD_NOT_ALLOWED');
    const forged = `${first.url.slice(0, -4)}AAAA`;
    const refused = await request(forged, { method: 'POST', body: 'x' });
    expect(refused.statusCode).toBe(404);
    await refused.body.dump();
    for (const { url } of [first, second]) {
      for (const body of ['1', '2']) (await request(url, { method: 'POST', body })).body.dump();
    }
    expect((await first.run.result()) as { first: string }).toMatchObject({ first: '1' });
    expect((await second.run.result()) as { first: string }).toMatchObject({ first: '1' });
  });
});

describe('createWebhook without a webhook host', () => {
  it('fails the run with a message saying what is missing', async () => {
    const noHost = workflow('webhook-test.no-host', async () => {
      const hook = createWebhook();
      return hook.url;
    });
    const world = await localWorld();
    const worker = createWorker({ world, workflows: [noHost] });
    await worker.start();
    const run = await createClient({ world }).start(noHost, undefined);
    await expect(run.result()).rejects.toThrow(/createWebhook\(\) needs a World that serves webhooks/);
    await worker.stop();
    await world.close();
  });
});
