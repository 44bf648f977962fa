import type { IncomingHttpHeaders } from 'node:http';
import { type Client, HookNotFoundError, type WebhookRequest, webhookTokenPrefix } from '@cairn/core';

/** Webhooks live under this path; the rest of the path is the hook's token. */
export const webhookPathPrefix = '/v1/webhooks/';

// Exactly what createWebhook mints: the prefix and 32 random bytes in base64url.
const webhookTokenPattern = new RegExp(`^${webhookTokenPrefix}[A-Za-z0-9_-]{43}$`);

/**
 * Resumes the webhook holding `token` with the request, and answers once the delivery is
 * durable. Only tokens minted by `createWebhook` are reachable here: a hook with a token a
 * person chose (`approve:order-42`) could be guessed, so without a bearer token it cannot be
 * resumed. An unknown or disposed token is a 404 that says nothing about why.
 */
export async function handleWebhook(
  client: Client,
  token: string,
  request: { method: string; headers: IncomingHttpHeaders; body: Buffer },
): Promise<void> {
  if (!webhookTokenPattern.test(token)) throw new HookNotFoundError({ token: '(not a webhook token)' });
  const payload: WebhookRequest = {
    method: request.method,
    headers: flatten(request.headers),
    ...bodyOf(request.body),
  };
  try {
    // No waiting for the hook to appear: its url exists only once the hook does.
    await client.resumeHook(token, payload, { timeoutMs: 0 });
  } catch (error) {
    // The token itself stays out of the answer, in case it ends up in someone's log.
    if (HookNotFoundError.is(error)) throw new HookNotFoundError({ token: '(hidden)' });
    throw error;
  }
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
