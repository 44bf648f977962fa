import { webhookTokenPrefix } from '@cairn/core';

/**
 * What a `read` token sees wherever a webhook token was: in a hook view's `token`, a
 * `hook_created` event, the output of the step that minted it, a url built from it, a text
 * stream chunk. Printable ASCII without spaces, so a redacted hook still has a valid token
 * field, but not the webhook token's shape (nor its prefix): the webhook route refuses it.
 */
export const redactedWebhookToken = '(redacted-webhook-token)';

/**
 * A webhook token anywhere inside a string, for instance at the end of a url. It must not
 * follow a letter or digit, so words that merely contain the prefix (`show_...`) stay. The
 * whole run of token characters goes, so a token with something glued after it is hidden too.
 */
const embeddedWebhookToken = new RegExp(`(?<![A-Za-z0-9])${webhookTokenPrefix}[A-Za-z0-9_-]{43,}`, 'g');

function redactText(text: string): string {
  return text.includes(webhookTokenPrefix) ? text.replace(embeddedWebhookToken, redactedWebhookToken) : text;
}

/**
 * A `JSON.stringify` replacer that swaps every webhook token for `redactedWebhookToken`, in
 * values and in keys, at any depth. Webhook tokens are capabilities: anyone holding one may
 * resume its hook without a bearer token, which is a write, so they are kept from `read`
 * tokens in everything those are answered. Tokens a person chose (`approve:order-42`) are
 * left as they are: resuming such a hook takes a worker token anyway. As a replacer it sees
 * every value after `toJSON`, exactly as it goes on the wire, and costs no extra copy.
 */
export function webhookTokenRedactor(_key: string, value: unknown): unknown {
  if (typeof value === 'string') return redactText(value);
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
  let renamed: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    if (redactText(key) !== key) {
      renamed = {};
      break;
    }
  }
  if (renamed === undefined) return value;
  // Rare (a record keyed by token): a copy with the keys redacted; its values are visited after.
  for (const [key, entry] of Object.entries(value)) renamed[redactText(key)] = entry;
  return renamed;
}
