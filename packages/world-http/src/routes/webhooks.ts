import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import { type Client, HookNotFoundError, type WebhookRequest, webhookTokenPrefix } from '@cairn/core';
import { deliveryIdSchema, parseInput, type World } from '@cairn/core/world';
import { PayloadTooLargeError } from '../errors/payload-too-large-error.js';
import { readBody } from '../request-body.js';

/** Webhooks live under this path; the rest of the path is the hook's token. */
export const webhookPathPrefix = '/v1/webhooks/';

// Exactly what createWebhook mints: the prefix and 32 random bytes in base64url.
const webhookTokenPattern = new RegExp(`^${webhookTokenPrefix}[A-Za-z0-9_-]{43}$`);

/**
 * Resumes the webhook holding `token` with the request, and returns once the delivery is
 * durable. Only tokens minted by `createWebhook` are reachable here: a hook with a token a
 * person chose (`approve:order-42`) could be guessed, so without a bearer token it cannot be
 * resumed. An unknown or disposed token is a 404 that says nothing about why.
 */
export async function handleWebhook(
  world: World,
  client: () => Client,
  token: string,
  request: IncomingMessage,
  limits: { maxPayloadBytes: number; bodyTimeoutMs: number },
): Promise<void> {
  if (!webhookTokenPattern.test(token)) throw new HookNotFoundError({ token: '(not a webhook token)' });
  const deliveryId = deliveryIdOf(token, request.headers);
  // The route takes no bearer token, so anyone may send to it: the hook is looked up before
  // the body is read, or any sender could make the server buffer the largest payload there is.
  try {
    await world.hooks.getByToken(token);
  } catch (error) {
    throw hidden(error);
  }
  const body = await readBody(request, limits.maxPayloadBytes, limits.bodyTimeoutMs);
  const payload: WebhookRequest = {
    method: request.method ?? 'POST',
    headers: flatten(request.headers),
    ...bodyOf(body),
  };
  // A body within the limit may not fit the World's payload limit once recorded (one that is
  // not UTF-8 grows by a third as base64, and the headers go with it): that is too large,
  // not bad input the sender could have fixed.
  if (Buffer.byteLength(JSON.stringify(payload)) + eventEnvelopeBytes > limits.maxPayloadBytes) {
    throw new PayloadTooLargeError({ limitBytes: limits.maxPayloadBytes });
  }
  try {
    // No waiting for the hook to appear: its url exists only once the hook does. It may go
    // between the lookup and now, which is a 404 too.
    await client().resumeHook(token, payload, { timeoutMs: 0, ...(deliveryId === undefined ? {} : { deliveryId }) });
  } catch (error) {
    throw hidden(error);
  }
}

/**
 * The delivery's id for the sender's `Idempotency-Key`, when it sent one: a sender that
 * retries a request it got no answer to (a timeout, a dropped connection) sends the same
 * key, and a delivery the hook already holds under that key is not recorded again; the
 * retry gets its 202 as the first would have. Checked before the body is read.
 *
 * A delivery id is unique within its run, but a key is the sender's, and one sender may
 * send the same event, with the same key, to two webhooks of one run. So the id is a hash
 * of the webhook's token and the key: the same for a retry to the same url, different for
 * another webhook, and fixed in length whatever the key's.
 */
function deliveryIdOf(token: string, headers: IncomingHttpHeaders): string | undefined {
  const value = headers['idempotency-key'];
  if (value === undefined) return undefined;
  const key = parseInput(deliveryIdSchema, value, 'headers.idempotency-key');
  return `webhook_${createHash('sha256').update(token).update('\n').update(key).digest('base64url')}`;
}

/** Room for what the recorded event holds besides the request: its type, the hook's id, the field names. */
const eventEnvelopeBytes = 1024;

/** The token itself stays out of the answer, in case it ends up in someone's log. */
function hidden(error: unknown): unknown {
  return HookNotFoundError.is(error) ? new HookNotFoundError({ token: '(hidden)' }) : error;
}

function flatten(headers: IncomingHttpHeaders): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) flat[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return flat;
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function bodyOf(body: Buffer): Pick<WebhookRequest, 'body' | 'bodyEncoding'> {
  try {
    return { body: strictUtf8.decode(body), bodyEncoding: 'utf8' };
  } catch {
    return { body: body.toString('base64'), bodyEncoding: 'base64' };
  }
}
