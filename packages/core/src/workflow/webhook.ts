import { randomBytes } from 'node:crypto';
import { FatalError } from '../errors/fatal-error.js';
import { InvalidInputError } from '../world/errors/invalid-input-error.js';
import { currentStepContext, requireReplay } from './context.js';
import { type StepDefinition, stepRegistry } from './definitions.js';
import { createHook, type Hook } from './primitives.js';

/** What a webhook delivers for each request it receives. */
export interface WebhookRequest {
  method: string;
  /** Header names in lower case; repeated headers are joined with `, `. */
  headers: Record<string, string>;
  /** The body as text when it is valid UTF-8 (`bodyEncoding: 'utf8'`), otherwise base64. */
  body: string;
  bodyEncoding: 'utf8' | 'base64';
}

/**
 * A hook the outside world reaches over HTTP: a `POST` to `url` resumes it with the
 * request. Await it for the first request, or iterate it for every request in order.
 */
export interface Webhook extends PromiseLike<WebhookRequest>, AsyncIterable<WebhookRequest> {
  /** The address to hand out. Resolves once the webhook is recorded in the run's log. */
  readonly url: Promise<string>;
  /** The secret part of `url`. Anyone holding it can resume the hook: share it like a password. */
  readonly token: Promise<string>;
  /** Frees the token; later requests to the url get 404. */
  dispose(): void;
}

/**
 * A World that serves webhooks says where: `webhookBaseUrl` is the prefix a token is
 * appended to (`https://cairn.example.com/v1/webhooks`). world-http's client has one.
 */
interface WebhookHost {
  readonly webhookBaseUrl?: string;
}

/** The prefix of every webhook token; the HTTP server resumes only hooks whose token has it. */
export const webhookTokenPrefix = 'wh_';

/** The internal step that mints a webhook's token: it runs once and is recorded, so replays see the same token. */
export const webhookStepName = 'cairn:webhook';

const webhookStep: StepDefinition = {
  name: webhookStepName,
  fn: (async (baseUrl: string | null) => {
    const context = currentStepContext();
    if (!context) throw new Error('cairn:webhook ran outside a step context');
    const base = baseUrl ?? (context.world as WebhookHost).webhookBaseUrl;
    if (typeof base !== 'string' || base.length === 0) {
      throw new FatalError(
        `createWebhook() needs a World that serves webhooks (world-http's client) or a baseUrl option; ${context.world.name} has neither`,
      );
    }
    // 256 random bits from the operating system: nothing about the run predicts it.
    const token = `${webhookTokenPrefix}${randomBytes(32).toString('base64url')}`;
    return { token, url: `${base.replace(/\/+$/, '')}/${token}` };
  }) as StepDefinition['fn'],
  options: { maxRetries: 3, backoff: { initialMs: 100, factor: 2, maxMs: 1000 } },
};
stepRegistry.set(webhookStepName, webhookStep);

/**
 * Creates a webhook inside a workflow. Its token is minted by an internal step, so it is
 * random, recorded in the log once, and the same on every replay. Hand `await hook.url` to
 * the sender (from a step); each `POST` to it resumes the hook with a `WebhookRequest`.
 */
export function createWebhook(options: { baseUrl?: string } = {}): Webhook {
  const replay = requireReplay('createWebhook()');
  if (options.baseUrl !== undefined && !/^https?:\/\/\S+$/.test(options.baseUrl)) {
    throw new InvalidInputError({
      field: 'createWebhook.baseUrl',
      value: options.baseUrl,
      reason: 'must be an http(s) URL',
    });
  }
  const minted = replay.callStep(webhookStepName, [options.baseUrl ?? null]) as Promise<{ token: string; url: string }>;
  let disposeRequested = false;
  // Boxed: a hook is thenable, and a promise resolved with it would wait for its first payload.
  const box = minted.then(({ token }) => {
    const hook = createHook<WebhookRequest>({ token });
    if (disposeRequested) hook.dispose();
    return { hook };
  });
  let iterator: AsyncIterator<WebhookRequest> | undefined;
  const url = minted.then((value) => value.url);
  const token = minted.then((value) => value.token);
  // A workflow that never reads these must not see an unhandled rejection if minting fails.
  for (const promise of [box, url, token]) promise.catch(() => {});
  return {
    url,
    token,
    // biome-ignore lint/suspicious/noThenProperty: a webhook is deliberately awaitable, like a hook.
    then(onFulfilled, onRejected) {
      return box.then(({ hook }: { hook: Hook<WebhookRequest> }) => hook).then(onFulfilled, onRejected);
    },
    dispose() {
      disposeRequested = true;
      void box.then(({ hook }) => hook.dispose());
    },
    [Symbol.asyncIterator]() {
      return {
        next: async () => {
          const { hook } = await box;
          iterator ??= hook[Symbol.asyncIterator]();
          return iterator.next();
        },
        return: async () => ({ value: undefined, done: true }),
      };
    },
  };
}
