import { InvalidInputError, type World, type WorldCapabilities } from '@cairn/core/world';
import { HttpEventLog } from './http-event-log.js';
import { HttpQueue } from './http-queue.js';
import { HttpStreams } from './http-streams.js';
import { HttpTransport, type TransportOptions } from './http-transport.js';
import { httpViews } from './http-views.js';

export interface HttpWorldOptions extends TransportOptions {}

export interface HttpWorld extends World {
  /** Where `createWebhook()` points senders: the server's configured base, or this client's url. */
  readonly webhookBaseUrl: string;
}

interface ServerDescription {
  name: string;
  capabilities: WorldCapabilities;
  webhookBaseUrl: string | null;
}

/**
 * A World that speaks to a `createWorldServer` over HTTP, for processes that must not hold
 * the store's credentials. It connects first: it reads the server's capabilities (the World
 * contract exposes them synchronously) and proves the token, so a wrong url or token fails
 * here rather than on first use. Every guarantee is the World behind the server's.
 */
export async function createHttpWorld(options: HttpWorldOptions): Promise<HttpWorld> {
  if (typeof options?.url !== 'string' || !/^https?:\/\/[^\s]+$/.test(options.url)) {
    throw new InvalidInputError({ field: 'options.url', value: options?.url, reason: 'must be an http(s) URL' });
  }
  if (typeof options.token !== 'string' || options.token.length === 0) {
    throw new InvalidInputError({ field: 'options.token', value: '(hidden)', reason: 'must be a non-empty string' });
  }
  const url = options.url.replace(/\/+$/, '');
  const transport = new HttpTransport({ ...options, url }, `http:${url}`);
  let description: ServerDescription;
  try {
    description = await transport.call<ServerDescription>('capabilities', undefined, { method: 'GET' });
  } catch (error) {
    await transport.close();
    throw error;
  }
  transport.openChannel();
  const capabilities = structuredClone(description.capabilities);
  const queue = bindMethods(new HttpQueue(transport, capabilities));
  let closing: Promise<void> | undefined;
  return {
    name: `http:${url} (${description.name})`,
    capabilities,
    webhookBaseUrl: description.webhookBaseUrl ?? `${url}/v1/webhooks`,
    events: bindMethods(new HttpEventLog(transport, capabilities)),
    ...httpViews(transport),
    queue,
    streams: bindMethods(new HttpStreams(transport)),
    close() {
      closing ??= (async () => {
        transport.closed = true;
        transport.live.abort();
        await queue.stopAll();
        await transport.close();
      })();
      return closing;
    },
  };
}

/** Callers may detach a method (`const { send } = world.queue`), as they can with the other Worlds. */
function bindMethods<Instance extends object>(instance: Instance): Instance {
  for (const key of Object.getOwnPropertyNames(Object.getPrototypeOf(instance))) {
    const value = (instance as Record<string, unknown>)[key];
    if (key !== 'constructor' && typeof value === 'function') {
      Object.defineProperty(instance, key, { value: value.bind(instance) });
    }
  }
  return instance;
}
