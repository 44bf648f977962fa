import { randomBytes } from 'node:crypto';
import { webhookTokenPrefix } from '@cairn/core';
import type { World } from '@cairn/core/world';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpWorld, type HttpWorld, redactedWebhookToken } from '../src/index.js';
import { localWorld, type Served, serve, tokens } from './helpers.js';

let served: Served;
let backing: World;
let reader: HttpWorld;
let worker: HttpWorld;
beforeAll(async () => {
  backing = await localWorld();
  served = await serve(backing);
  reader = await createHttpWorld({ url: served.url, token: tokens.read });
  worker = await createHttpWorld({ url: served.url, token: tokens.worker });
});
afterAll(async () => {
  await Promise.all([reader.close(), worker.close()]);
  await served.server.close();
  await backing.close();
});

/** A token shaped exactly like the ones `createWebhook` mints. */
const mintToken = () => `${webhookTokenPrefix}${randomBytes(32).toString('base64url')}`;

/** Tokens a person chose: no secret, since resuming such a hook needs a worker token anyway. */
let orders = 41;
const chooseToken = () => `approve:order-${++orders}`;

/**
 * A run that used a webhook the way the engine records one: the internal step that mints the
 * token, the hook, the url handed to a step, written to a stream and returned. Appended
 * straight to the backing World, so nothing in the HTTP layer sees the token go in.
 */
async function runWithWebhook(token: string) {
  const url = `${served.url}/v1/webhooks/${token}`;
  const chosen = chooseToken();
  const { run } = await backing.events.create(null, {
    eventType: 'run_created',
    eventData: { workflowName: 'w', metadata: { note: `callback at ${url}` } },
  });
  const { runId } = run;
  const append = (request: Parameters<World['events']['create']>[1]) => backing.events.create(runId, request);
  await append({ eventType: 'run_started' });
  await append({
    eventType: 'step_created',
    correlationId: 'mint',
    eventData: { stepName: 'cairn:webhook', input: [null] },
  });
  await append({ eventType: 'step_started', correlationId: 'mint' });
  await append({ eventType: 'step_completed', correlationId: 'mint', eventData: { output: { token, url } } });
  await append({ eventType: 'hook_created', correlationId: 'webhook', eventData: { token } });
  await append({ eventType: 'hook_created', correlationId: 'chosen', eventData: { token: chosen } });
  await append({ eventType: 'step_created', correlationId: 'notify', eventData: { stepName: 'notify', input: [url] } });
  // Run against the World behind the server directly: its read must not go through the redaction.
  await backing.streams.write(runId, 'log', `sent\n${url}\n`);
  await backing.streams.close(runId, 'log');
  return { runId, url, chosen };
}

/** One route called over plain HTTP with `token`, answered as text: what a reader's own client would see. */
async function raw(route: string, body: unknown, token = tokens.read): Promise<string> {
  const answer = await request(`${served.url}/v1/${route}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return answer.body.text();
}

describe('world-http: what a read token sees of webhooks', () => {
  it('every view, event, watch answer and stream line carries a redaction marker instead of the token', async () => {
    const token = mintToken();
    const { runId, chosen } = await runWithWebhook(token);
    const secret = token.slice(webhookTokenPrefix.length);
    const events = (await backing.events.list(runId)).data;
    const answers = [
      await raw('runs.get', { runId }),
      await raw('runs.list', {}),
      await raw('steps.list', { runId }),
      await raw('steps.get', { runId, stepId: 'mint' }),
      await raw('steps.get', { runId, stepId: 'notify' }),
      await raw('hooks.list', { runId }),
      await raw('hooks.get', { runId, hookId: 'webhook' }),
      await raw('hooks.getByToken', { token }),
      await raw('events.list', { runId }),
      await raw('events.watch', { runId, afterSeq: 0, waitMs: 0 }),
      await raw('streams.read', { runId, name: 'log' }),
      ...(await Promise.all(events.map((event) => raw('events.get', { runId, eventId: event.eventId })))),
    ];
    for (const answer of answers) {
      expect(answer).not.toContain(secret);
      expect(answer).not.toMatch(/"error"/);
    }
    expect(answers.join('\n')).toContain(redactedWebhookToken);

    // The same through the client: the marker stands where the token was.
    expect((await reader.hooks.get(runId, 'webhook')).token).toBe(redactedWebhookToken);
    expect((await reader.hooks.list(runId)).data.map((hook) => hook.token)).toEqual([redactedWebhookToken, chosen]);
    // Looked up by its token, the hook is found, as hooks.get finds it, but its token is not given back.
    expect(await reader.hooks.getByToken(token)).toMatchObject({ hookId: 'webhook', token: redactedWebhookToken });
    const created = (await reader.events.list(runId)).data.filter((event) => event.eventType === 'hook_created');
    expect(created.map((event) => event.eventData)).toEqual([{ token: redactedWebhookToken }, { token: chosen }]);
    const minted = await reader.steps.get(runId, 'mint');
    expect(minted.output).toEqual({
      token: redactedWebhookToken,
      url: `${served.url}/v1/webhooks/${redactedWebhookToken}`,
    });
    const chunks: unknown[] = [];
    for await (const chunk of reader.streams.read(runId, 'log')) chunks.push(chunk.data);
    expect(chunks).toEqual([`sent\n${served.url}/v1/webhooks/${redactedWebhookToken}\n`]);
  });

  it('a worker token still sees every token as it was recorded', async () => {
    const token = mintToken();
    const { runId, url } = await runWithWebhook(token);
    expect((await worker.hooks.get(runId, 'webhook')).token).toBe(token);
    expect((await worker.hooks.getByToken(token)).hookId).toBe('webhook');
    expect((await worker.steps.get(runId, 'mint')).output).toEqual({ token, url });
    const created = (await worker.events.list(runId)).data.find((event) => event.correlationId === 'webhook');
    expect(created?.eventData).toEqual({ token });
    expect(await raw('hooks.list', { runId }, tokens.worker)).toContain(token);
  });

  it('the ended run a watch hands back is redacted too', async () => {
    const token = mintToken();
    const { runId, url } = await runWithWebhook(token);
    await backing.events.create(runId, { eventType: 'run_completed', eventData: { output: { url } } });
    const answer = await raw('events.watch', { runId, afterSeq: 0, waitMs: 0, options: { untilEnded: true } });
    expect(answer).toContain('"status":"completed"');
    expect(answer).not.toContain(token);
    const tail = await reader.events.watch(runId, 0, undefined, { untilEnded: true });
    if (tail?.run) expect(tail.run.output).toEqual({ url: `${served.url}/v1/webhooks/${redactedWebhookToken}` });
    expect((await reader.runs.get(runId)).output).toEqual({ url: `${served.url}/v1/webhooks/${redactedWebhookToken}` });
  });

  it('the marker is no token: it cannot resume anything, and chosen tokens are left as they are', async () => {
    expect(redactedWebhookToken).not.toMatch(new RegExp(`^${webhookTokenPrefix}[A-Za-z0-9_-]{43}$`));
    expect(redactedWebhookToken).not.toContain(webhookTokenPrefix);
    const posted = await request(`${served.url}/v1/webhooks/${encodeURIComponent(redactedWebhookToken)}`, {
      method: 'POST',
      body: 'x',
    });
    expect(posted.statusCode).toBe(404);
    await posted.body.dump();
    // An error answer to a read token is redacted like any other: not even its own lookup comes back.
    const unknown = mintToken();
    const missing = await raw('hooks.getByToken', { token: unknown });
    expect(missing).toContain('"code":"HOOK_NOT_FOUND"');
    expect(missing).not.toContain(unknown);
    const { chosen } = await runWithWebhook(mintToken());
    expect((await reader.hooks.getByToken(chosen)).token).toBe(chosen);
  });
});
