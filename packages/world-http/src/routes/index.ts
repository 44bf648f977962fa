import { eventRoutes } from './events.js';
import { queueRoutes } from './queue.js';
import type { Route } from './route.js';
import { streamRoutes } from './streams.js';
import { viewRoutes } from './views.js';

export type { Route, RouteContext } from './route.js';
export { handleWebhook, webhookPathPrefix } from './webhooks.js';

/** Every authenticated route, by the name after `/v1/`. */
export const routes: ReadonlyMap<string, Route> = new Map(
  Object.entries({ ...eventRoutes, ...viewRoutes, ...queueRoutes, ...streamRoutes }),
);
